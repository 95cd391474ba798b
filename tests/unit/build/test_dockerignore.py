""".dockerignore reading and matching, on moby's own test tables
(moby/patternmatcher's patternmatcher_test.go and ignorefile_test.go)."""

import pytest

from dockyard.build.dockerignore import (MatchKind, Pattern, PatternMatcher, check_match_syntax,
                                         go_clean, parse_dockerignore)
from dockyard.errors import InvalidArgument


def excluded(path, *patterns):
    return PatternMatcher.compile(patterns).matches(path)


# -- reading -------------------------------------------------------------------

def test_read_all_as_moby():
    content = (b"test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
               b"! /inverted/abs/path\n!\n! ")
    assert parse_dockerignore(content) == [
        "test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"]


def test_read_cleans_and_strips_bom_and_crlf():
    content = b"\xef\xbb\xbf# comment\r\n  a/../b/  \r\n\t!/c/./d\r\n//e\n  # not a comment\n/\n"
    assert parse_dockerignore(content) == ["b", "!c/d", "e", "# not a comment", "/"]


def test_read_bom_only_on_first_line():
    assert parse_dockerignore(b"a\n\xef\xbb\xbfb") == ["a", "\ufeffb"]


def test_go_clean():
    assert [go_clean(p) for p in ("", "a//b/", "///a", "//a", "a/..", "/../x", "./")] == \
        [".", "a/b", "/a", "/a", ".", "/x", "."]


# -- compiling -----------------------------------------------------------------

def test_single_exclamation_is_an_error():
    with pytest.raises(InvalidArgument, match='illegal exclusion pattern: "!"'):
        PatternMatcher.compile(["!"])


def test_compile_drops_empty_and_trims():
    matcher = PatternMatcher.compile(["docs", "config", "", "  !docs/README.md  "])
    assert [p.text for p in matcher.patterns] == ["docs", "config", "docs/README.md"]
    assert matcher.has_exceptions


@pytest.mark.parametrize("pattern", ["[", "[^", "[^bc", "a[", "\\", "[]a]", "[-]", "[x-]",
                                     "[-x]", "[a-b-c]", "*[", "a/b["])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        check_match_syntax(pattern)
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        PatternMatcher.compile([pattern])


def test_reversed_range_fails_as_a_regex_like_moby():
    # Go's filepath.Match accepts it; the regexp moby builds does not.
    check_match_syntax("[Local-Only]")
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        PatternMatcher.compile(["[Local-Only]/"])


@pytest.mark.parametrize("pattern, kind, regex", [
    ("*", MatchKind.REGEX, r"^[^/]*\Z"),
    ("file*", MatchKind.REGEX, r"^file[^/]*\Z"),
    ("*file", MatchKind.REGEX, r"^[^/]*file\Z"),
    ("a*/b", MatchKind.REGEX, r"^a[^/]*/b\Z"),
    ("**", MatchKind.SUFFIX, None),
    ("**/**", MatchKind.REGEX, r"^(.*/)?.*\Z"),
    ("dir/**", MatchKind.PREFIX, None),
    ("**/dir", MatchKind.SUFFIX, None),
    ("**/dir2/*", MatchKind.REGEX, r"^(.*/)?dir2/[^/]*\Z"),
    ("**/dir2/**", MatchKind.REGEX, r"^(.*/)?dir2/.*\Z"),
    ("**file", MatchKind.SUFFIX, None),
    ("**/file*txt", MatchKind.REGEX, r"^(.*/)?file[^/]*txt\Z"),
    ("**/**/*.txt", MatchKind.REGEX, r"^(.*/)?(.*/)?[^/]*\.txt\Z"),
    ("a[b-d]e", MatchKind.REGEX, r"^a[b-d]e\Z"),
    (".*", MatchKind.REGEX, r"^\.[^/]*\Z"),
    ("abc.def", MatchKind.EXACT, None),
    ("abc?def", MatchKind.REGEX, r"^abc[^/]def\Z"),
    ("**/foo/bar", MatchKind.SUFFIX, None),
    ("a(b)c/def", MatchKind.EXACT, None),
    ("a.|)$(}+{bc", MatchKind.EXACT, None),
])
def test_compile_kinds_and_expressions(pattern, kind, regex):
    compiled = Pattern(go_clean(pattern))
    assert compiled.kind is kind
    assert (compiled.regex.pattern if compiled.regex else None) == regex


# -- matching: moby's TestMatches table (MatchesOrParentMatches) ----------------

MATCHES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True),
    ("**/", "file/", True), ("**", "/", True), ("**/", "/", True),
    ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True), ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True), ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False), ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True),
    (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False), ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]


@pytest.mark.parametrize("pattern, path, expected", MATCHES)
def test_matches_table(pattern, path, expected):
    assert excluded(path, pattern) is expected


@pytest.mark.parametrize("patterns, path, expected", [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
])
def test_multi_pattern_table(patterns, path, expected):
    assert excluded(path, *patterns) is expected


# moby's filepath.Match-derived table: (pattern, path, matches).  These run
# through MatchesOrParentMatches, so "a*" also matches "ab/c" through "ab".
@pytest.mark.parametrize("pattern, path, expected", [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True),
    ("a*", "abc", True), ("a*", "ab/c", True), ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False), ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True),
    ("[x\\-]", "x", True), ("[x\\-]", "-", True), ("[x\\-]", "z", False), ("[\\-x]", "x", True),
    ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("*x", "xxx", True),
])
def test_filepath_match_table(pattern, path, expected):
    assert excluded(path, pattern) is expected


def test_no_patterns_match_nothing():
    assert not PatternMatcher.compile([]).matches("/any/path/there")


# -- exceptions and order --------------------------------------------------------

def test_order_matters():
    assert excluded("fileutils.go", "!fileutils.go", "*.go")
    assert not excluded("fileutils.go", "*.go", "!fileutils.go")


@pytest.mark.parametrize("folder", ["docs", "docs/", "docs/*"])
def test_folder_with_exception(folder):
    assert not excluded("docs/README.md", folder, "!docs/README.md")
    assert excluded("docs/other.md", folder, "!docs/README.md")


def test_exception_matches_through_parent():
    assert not excluded("keep/a/b", "*", "!keep")
    assert excluded("other/a", "*", "!keep")


def test_directory_pattern_excludes_everything_below():
    assert excluded("node_modules/a/b/c.js", "node_modules")
    assert excluded("a/node_modules/x", "**/node_modules")
    assert not excluded("a/node_modules/x", "node_modules")


def test_escapes():
    assert excluded("a*b", "a\\*b") and not excluded("axb", "a\\*b")
    assert excluded("[x]", "\\[x\\]") and not excluded("x", "\\[x\\]")
    assert excluded("file?", "file\\?") and not excluded("files", "file\\?")
    # An escaped letter is a regex escape in moby (Go's \d is a digit).
    assert excluded("v1", "v\\d")


# -- walking ----------------------------------------------------------------------

def test_can_skip_dir_without_exceptions():
    assert PatternMatcher.compile(["docs"]).can_skip_dir("docs")


def test_cannot_skip_dir_an_exception_reaches_into():
    matcher = PatternMatcher.compile(["docs", "!docs/README.md"])
    assert not matcher.can_skip_dir("docs")
    assert matcher.can_skip_dir("other")
    assert not PatternMatcher.compile(["*", "!a/b/c"]).can_skip_dir("a/b")


def test_can_skip_dir_is_textual_like_moby():
    # moby's walker compares the exception's text: a wildcard in it does not count.
    assert PatternMatcher.compile(["*", "!*/keep"]).can_skip_dir("a")
    # A sibling whose name merely starts the same does not block skipping.
    assert PatternMatcher.compile(["*", "!docs2/x"]).can_skip_dir("docs")


def test_keeping_appends_a_winning_exception():
    matcher = PatternMatcher.compile(["*", "sub"]).keeping("sub/Dockerfile")
    assert not matcher.matches("sub/Dockerfile")
    assert matcher.matches("sub/other")
    assert not matcher.can_skip_dir("sub")
