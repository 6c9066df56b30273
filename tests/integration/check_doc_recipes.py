#!/usr/bin/python3
"""docs/ci.md shows the recipes in docs/recipes/ verbatim: each file is in the page once, as
the fenced block right after a `<!-- recipe: docs/recipes/NAME -->` line, byte for byte.

Usage: check_doc_recipes.py SOURCE_DIR [--update]   (exit 0 all match, 1 a mismatch, with a
diff; --update copies the files into the page's blocks instead)
The recipes themselves run as the ctest tests ci_recipe_shell, ci_recipe_c, ci_recipe_pytest.
"""
import difflib
import os
import re
import sys

MARK = re.compile(r"^<!-- recipe: (\S+) -->\n```\w*\n(.*?)^```$", re.M | re.S)


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "docs", "ci.md"), encoding="utf-8") as f:
        page = f.read()
    if sys.argv[2:] == ["--update"]:
        def fill(m):
            with open(os.path.join(src, m.group(1)), encoding="utf-8") as f:
                return m.group(0)[:m.start(2) - m.start(0)] + f.read() + "```"
        with open(os.path.join(src, "docs", "ci.md"), "w", encoding="utf-8") as f:
            f.write(MARK.sub(fill, page))
        return 0
    shown = {}
    for m in MARK.finditer(page):
        if m.group(1) in shown:
            print("docs/ci.md shows %s twice" % m.group(1))
            return 1
        shown[m.group(1)] = m.group(2)
    if page.count("<!-- recipe:") != len(shown):
        print("docs/ci.md: a <!-- recipe: ... --> line not followed by a fenced block")
        return 1
    files = sorted("docs/recipes/" + n for n in os.listdir(os.path.join(src, "docs", "recipes"))
                   if not n.startswith("."))
    bad = 0
    for name in files:
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = f.read()
        if name not in shown:
            print("docs/ci.md does not show %s (<!-- recipe: %s --> and a fenced block)"
                  % (name, name))
            bad = 1
        elif shown[name] != text:
            print("docs/ci.md's copy of %s differs from the file:" % name)
            sys.stdout.writelines(difflib.unified_diff(
                text.splitlines(True), shown[name].splitlines(True), name, "docs/ci.md"))
            bad = 1
    for name in sorted(set(shown) - set(files)):
        print("docs/ci.md shows %s, which is not a file in docs/recipes/" % name)
        bad = 1
    if not bad:
        print("docs/ci.md shows the %d recipes of docs/recipes/ verbatim" % len(files))
    return bad


if __name__ == "__main__":
    sys.exit(main())
