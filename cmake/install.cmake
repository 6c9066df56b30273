# Install rules and the Debian package (docs/ci.md).
#
#   cmake -B build-pkg -DCMAKE_INSTALL_PREFIX=/usr && cmake --build build-pkg
#   cmake --install build-pkg --prefix /usr        # or: cpack (scripts/package.sh)
#
# Layout (FHS with GNUInstallDirs; PREFIX=/usr in the package):
#   PREFIX/bin/ddlocal, ddlocald, ddlocal-agent, ddlocal-sensor
#   PREFIX/lib/<multiarch>/ddlocal/ddlocal_shim.so      the mosquitto plugin
#   PREFIX/share/ddlocal/fixtures/                       profiles, policies, scenarios, handlers
#   PREFIX/share/ddlocal/lambda/ddlocal_lambda_runner.py the Lambda stand-in's runtime
#   PREFIX/share/ddlocal/console/                        the console's files (ddlocald serves them)
#   PREFIX/share/ddlocal/docs/, README.md
#   PREFIX/lib/python3/dist-packages/pytest_ddlocal/     the pytest plugin (pytest -p pytest_ddlocal)
# `ddlocal` finds the others relative to its own directory (cli/dd_paths.h), so the tree can be
# installed under any prefix or DESTDIR and run from there.
install(TARGETS ddlocal ddlocald ddlocal-agent ddlocal-sensor
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ddlocal_shim LIBRARY DESTINATION ${DD_INSTALL_PLUGINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/fixtures/ DESTINATION ${DD_INSTALL_PKGDATADIR}/fixtures)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/lambda/ddlocal_lambda_runner.py
        DESTINATION ${DD_INSTALL_PKGDATADIR}/lambda)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/console/ DESTINATION ${DD_INSTALL_PKGDATADIR}/console
        PATTERN "node_modules" EXCLUDE PATTERN "package*.json" EXCLUDE)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${DD_INSTALL_PKGDATADIR}/docs)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${DD_INSTALL_PKGDATADIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/pytest_ddlocal DESTINATION ${DD_INSTALL_PYTHONDIR}
        PATTERN "__pycache__" EXCLUDE PATTERN "*.pyc" EXCLUDE)

# The Debian package: build-pkg/ddlocal_VERSION_ARCH.deb (scripts/package.sh).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ddlocal)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "ddlocal")
set(CPACK_PACKAGE_CONTACT "ddlocal maintainers <ddlocal@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "local, offline stand-in for the AWS IoT Device Defender Detect pipeline")
set(CPACK_PACKAGE_DESCRIPTION
    "A real mosquitto broker with a plugin for AWS IoT identities and policies, an evaluator of\n\
Device Defender security profiles serving the AWS IoT REST API, device agents and the ddlocal\n\
command. For CI: ddlocal up --detach, ddlocal status, ddlocal down.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/ddlocal/ddlocal")
# Shared libraries from dpkg-shlibdeps (libc, libsqlite3-0, libcjson1, libcbor0.8, libssl3,
# libmicrohttpd12, libmosquitto1, libcurl4, libyajl2); programs `ddlocal up` runs: the broker
# and the Lambda runner's interpreter.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0), python3")
# What the pytest plugin runs (docs/reference/pytest.md) and `ddlocal plot`'s gnuplot;
# apt installs Recommends by default, and everything else works without them.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-pytest, python3-boto3, mosquitto-clients, gnuplot-nox")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
include(CPack)
