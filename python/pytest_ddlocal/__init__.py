"""pytest_ddlocal: pytest fixtures for tests against ddlocal (docs/reference/pytest.md).

Enable it with `pytest -p pytest_ddlocal`, `addopts = -p pytest_ddlocal` in pytest.ini, or
`pytest_plugins = ["pytest_ddlocal"]` in a top-level conftest.py. It is not loaded into
every pytest run on the machine: the package registers no entry point.

Fixtures:
  ddlocal        (session) a running pipeline: `ddlocal up --detach` on a temporary data dir
                 and free ports, `ddlocal down` at the end of the session
  ddlocal_clean  (function) the same pipeline, emptied before the test (POST /ddlocal/v1/reset)
  iot            (function) a boto3 IoT client pointed at it, on an emptied pipeline
  device         (function) a factory: device("Thing01") -> Device (thing, certificate, policy,
                 MQTT through mosquitto_pub/mosquitto_sub or ddlocal-agent)
  clock          (function) the manual pipeline clock: clock.advance(seconds), clock.now()
"""
import os
import shlex

import pytest

from .ddlocal import (DEVICE_POLICY, Ddlocal, DdlocalError, DdlocalTimeout, Device,
                      Subscription, find_program, report_json)

__all__ = ["Ddlocal", "DdlocalError", "DdlocalTimeout", "Device", "Subscription", "Clock",
           "DEVICE_POLICY", "find_program", "report_json"]


def pytest_addoption(parser):
    group = parser.getgroup("ddlocal", "ddlocal (a local AWS IoT Device Defender stand-in)")
    group.addoption("--ddlocal-bin", metavar="PATH",
                    help="the ddlocal program (default: $DDLOCAL_BIN, the ini value "
                         "ddlocal_bin, else ddlocal on PATH)")
    group.addoption("--ddlocal-data-dir", metavar="DIR",
                    help="use the pipeline running on DIR (kept running), or start one "
                         "there (default: a new temporary data dir)")
    group.addoption("--ddlocal-up-args", metavar="ARGS",
                    help="options for `ddlocal up --detach` (default: the ini value "
                         "ddlocal_up_args, else --manual-clock)")
    parser.addini("ddlocal_bin", "the ddlocal program (see --ddlocal-bin)")
    parser.addini("ddlocal_up_args", "options for `ddlocal up --detach`",
                  default="--manual-clock")


def _option(config, name, ini=None, env=None):
    value = config.getoption(name)
    if value is None and env:
        value = os.environ.get(env)
    if value is None and ini:
        value = config.getini(ini) or None
    return value


class Clock:
    """The pipeline clock of a `--manual-clock` pipeline."""

    def __init__(self, dd):
        self.dd = dd

    def now(self):
        """Pipeline time, ms since the epoch."""
        return self.dd.clock_now()

    def advance(self, seconds):
        """Move the clock SECONDS forward, with the barrier: every message the broker
        accepted before the call is counted in the window it was sent in first, then
        windows that end close and are evaluated; returns after that."""
        return self.dd.clock_advance(seconds)


@pytest.fixture(scope="session")
def ddlocal(request, tmp_path_factory):
    """A running ddlocal for the whole session (a Ddlocal)."""
    config = request.config
    up_args = shlex.split(_option(config, "ddlocal_up_args", ini="ddlocal_up_args") or "")
    data_dir = config.getoption("ddlocal_data_dir")
    try:
        dd = Ddlocal(data_dir or tmp_path_factory.mktemp("ddlocal") / "data",
                     ddlocal=_option(config, "ddlocal_bin", ini="ddlocal_bin", env="DDLOCAL_BIN"),
                     up_args=up_args)
        if data_dir and dd.running():
            dd.attach()
        elif data_dir or getattr(config, "cache", None) is None:
            dd.start()
        else:
            # pytest's cache (.pytest_cache/d/ddlocal) keeps an initialised data dir: no new
            # CA per session. -p no:cacheprovider or --cache-clear make one each time.
            dd.start(template=dd.init_template(str(config.cache.mkdir("ddlocal"))))
    except DdlocalError as e:
        pytest.fail("ddlocal could not be started: %s" % e, pytrace=False)
    yield dd
    dd.stop()


@pytest.fixture
def ddlocal_clean(ddlocal):
    """The session's ddlocal with all its state emptied before the test (POST
    /ddlocal/v1/reset: registry, profiles, violations, metrics, mitigation)."""
    ddlocal.reset()
    return ddlocal


@pytest.fixture
def iot(ddlocal_clean):
    """A boto3 IoT client pointed at ddlocal (dummy credentials, us-east-1), on an emptied
    pipeline. For one client over several tests without a reset: ddlocal.iot_client()."""
    return ddlocal_clean.iot_client()


@pytest.fixture
def device(ddlocal_clean, iot):
    """A factory: device(thing_name, client_id=None, policy=None, attributes=None) creates
    the thing, an active certificate and key attached to it and a device policy through
    the API and returns a Device (publish, report, subscribe, agent)."""
    devices = []

    def make(thing_name, **kwargs):
        dev = ddlocal_clean.create_device(thing_name, iot=iot, **kwargs)
        devices.append(dev)
        return dev

    yield make
    for dev in devices:
        dev.close()


@pytest.fixture
def clock(ddlocal_clean):
    """The manual pipeline clock (the default `ddlocal up --manual-clock`)."""
    mode = ddlocal_clean.request("GET", "/ddlocal/v1/clock").get("mode")
    if mode != "manual":
        pytest.fail("the clock fixture needs a manual clock (ddlocal up --manual-clock), "
                    "this pipeline's is %s" % mode, pytrace=False)
    return Clock(ddlocal_clean)
