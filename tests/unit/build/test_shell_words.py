"""Docker's word lexer: substitution, quoting, escapes and word splitting."""

import json

import pytest

from dockyard.build.shell_words import ShellLex, ShellWordError

ENV = {"PWD": "/home", "SHELL": "bash", "EMPTY": "", "TWO": "a b", "FILE": "dir/name.tar.gz"}


@pytest.mark.parametrize("word, expected", [
    ("hello", "hello"),
    ("$PWD", "/home"),
    ("${PWD}/x", "/home/x"),
    ("$UNSET-x", "-x"),
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${PWD:-dflt}", "/home"),
    ("${PWD:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$SHELL}", "bash"),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ('"a \\"q\\" \\$PWD"', 'a "q" $PWD'),
    ("\\$PWD", "$PWD"),
    ("a\\ b", "a b"),
    ("$", "$"),
    ("${FILE%.*}", "dir/name.tar"),
    ("${FILE%%.*}", "dir/name"),
    ("${FILE#*/}", "name.tar.gz"),
    ("${FILE##*.}", "gz"),
])
def test_process_word(word, expected):
    assert ShellLex().process_word(word, ENV) == expected


def test_backtick_escape():
    assert ShellLex("`").process_word("c:\\dir `$PWD", ENV) == "c:\\dir $PWD"


@pytest.mark.parametrize("word, expected", [
    ("80 443/tcp", ["80", "443/tcp"]),
    ("$TWO c", ["a", "b", "c"]),
    ('"$TWO" c', ["a b", "c"]),
    ("'x y'z", ["x yz"]),
    ("", []),
])
def test_process_words(word, expected):
    assert ShellLex().process_words(word, ENV) == expected


def test_skip_unset_keeps_references():
    lex = ShellLex(skip_unset_env=True)
    assert lex.process_word("$A ${B} ${C:-x} $PWD", ENV) == "$A ${B} ${C:-x} /home"


def test_unmatched_names():
    assert ShellLex().unmatched("$PWD ${NOPE:-x}", ENV) == {"NOPE"}


@pytest.mark.parametrize("word, message", [
    ("${PWD", "syntax error: missing '}'"),
    ("${}", "syntax error: bad substitution"),
    ("'open", "unexpected end of statement while looking for matching single-quote"),
    ('"open', "unexpected end of statement while looking for matching double-quote"),
    ("${UNSET?must be set}", "UNSET: must be set"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${PWD:#x}", "unsupported modifier (:#) in substitution"),
])
def test_errors(word, message):
    with pytest.raises(ShellWordError) as info:
        ShellLex().process_word(word, ENV)
    assert str(info.value) == f"failed to process {json.dumps(word)}: {message}"
