"""Tables (Go tabwriter semantics), ps/images/history rows, flag syntax."""

import pytest

from dockyard.cli.containers import ContainerRow, display_ports
from dockyard.cli.flags import FlagSet, HelpRequested, UsageError
from dockyard.cli.formatter import ellipsis, go_quote, render, tabwrite, truncate_id
from dockyard.cli.images import IMAGE_HEADERS, IMAGE_TABLE, HistoryRow, image_rows, split_reference


def test_tabwrite_minimum_width_and_padding():
    assert tabwrite("A\tBB\tC\nlonger value\tx\ty\n") == (
        "A              BB        C\n"
        "longer value   x         y\n")


def test_tabwrite_column_blocks_end_at_shorter_lines():
    # Go's tabwriter sizes a column over consecutive lines that have it.
    text = "aaaaaaaaaaaaaaa\tb\nno tabs here\nc\td\n"
    assert tabwrite(text) == ("aaaaaaaaaaaaaaa   b\n"
                              "no tabs here\n"
                              "c         d\n")


def test_tabwrite_trailing_cell_is_not_padded():
    assert tabwrite("x\t\n") == "x         \n"


def test_render_modes():
    rows = [{"A": "1", "B": "two"}]
    headers = {"A": "COL A", "B": "COL B"}
    assert render("", rows, headers, "{{.A}}\t{{.B}}") == "COL A     COL B\n1         two\n"
    assert render("{{.B}}", rows, headers, "") == "two\n"
    assert render("table {{.B}}", rows, headers, "") == "COL B\ntwo\n"
    assert render("json", rows, headers, "") == '{"A":"1","B":"two"}\n'
    assert render("{{.A}}\\t{{.B}}", rows, headers, "") == "1\ttwo\n"
    assert render("table", [], headers, "{{.A}}") == "COL A\n"


def test_header_functions_leave_titles_alone():
    assert render("table {{upper .A}}", [{"A": "x"}], {"A": "COL A"}, "") == "COL A\nX\n"


def test_helpers():
    assert ellipsis("abcdef", 4) == "abc…" and ellipsis("abc", 4) == "abc"
    assert truncate_id("sha256:0123456789abcdef") == "0123456789ab"
    assert go_quote('say "hi"\n') == '"say \\"hi\\"\\n"'


def test_ports_grouping():
    ports = [{"PrivatePort": p, "Type": "tcp"} for p in (81, 80, 82, 90)]
    ports += [{"IP": "0.0.0.0", "PrivatePort": 53, "PublicPort": 53, "Type": "udp"},
              {"IP": "::", "PrivatePort": 443, "PublicPort": 8443, "Type": "tcp"}]
    # Finished runs come first, then the open group of each key in the order
    # the keys appeared, then the remapped host ports (docker's order).
    assert display_ports(ports) == ("80-82/tcp, 0.0.0.0:53->53/udp, 90/tcp, "
                                    "[::]:8443->443/tcp")


def test_container_row_fields():
    row = ContainerRow({"Id": "a" * 64, "Names": ["/web", "/other/alias"],
                        "Image": "sha256:" + "b" * 64, "Command": "echo hi",
                        "Created": 100, "Labels": {"k": "v", "x": "y"},
                        "SizeRw": 1000, "SizeRootFs": 5_000_000}, trunc=True, now=160)
    assert row.ID == "a" * 12 and row.Image == "b" * 12 and row.Names == "web"
    assert row.Command == '"echo hi"' and row.RunningFor == "About a minute ago"
    assert row.Labels == "k=v,x=y" and row.Label("x") == "y"
    assert row.Size == "1kB (virtual 5MB)"


def test_image_rows_follow_docker_rules():
    images = [
        {"Id": "sha256:" + "1" * 64, "RepoTags": ["busybox:latest", "busybox:1.36",
                                                   "docker.io/library/alpine:3"],
         "RepoDigests": ["busybox@sha256:" + "d" * 64], "Created": 0, "Size": 4_260_000},
        {"Id": "sha256:" + "2" * 64, "RepoTags": [], "RepoDigests": [], "Created": 0,
         "Size": 0},
        {"Id": "sha256:" + "3" * 64, "RepoTags": None, "RepoDigests": ["reg:5000/x@sha256:e"],
         "Created": 0, "Size": 1},
    ]
    rows = image_rows(images, trunc=True, digests=False)
    assert [(r.Repository, r.Tag, r.ID) for r in rows] == [
        ("busybox", "latest", "1" * 12), ("busybox", "1.36", "1" * 12),
        ("alpine", "3", "1" * 12), ("<none>", "<none>", "2" * 12),
        ("reg:5000/x", "<none>", "3" * 12)]
    assert rows[0].Size == "4.26MB" and rows[0].CreatedSince == "N/A"
    text = render("", rows[:1], IMAGE_HEADERS, IMAGE_TABLE)
    assert text.splitlines()[0] == "REPOSITORY   TAG       IMAGE ID       CREATED   SIZE"


def test_split_reference():
    assert split_reference("busybox") == ("busybox", "")
    assert split_reference("reg:5000/a/b:v1") == ("reg:5000/a/b", "v1")
    assert split_reference("reg:5000/a") == ("reg:5000/a", "")


def test_history_row():
    row = HistoryRow({"Id": "<missing>", "Created": 0, "CreatedBy": "/bin/sh -c\t" + "x" * 60,
                      "Size": 1234, "Comment": ""}, trunc=True, human=False, now=0)
    assert row.ID == "<missing>" and row.Size == "1234"
    assert len(row.CreatedBy) == 45 and row.CreatedBy.endswith("…")


def flagset(**kw):
    return (FlagSet("run", "[OPTIONS] IMAGE", "Run", **kw)
            .bool("detach", "d").bool("interactive", "i").bool("tty", "t")
            .string("name").list("env", "e").int("last", "n", default=-1))


def test_flag_forms():
    opts, args = flagset().parse(["-dit", "--name=x", "-eA=1", "-e", "B=2", "-n3", "img"])
    assert (opts.detach, opts.interactive, opts.tty, opts.name, opts.env, opts.last, args) == \
        (True, True, True, "x", ["A=1", "B=2"], 3, ["img"])
    assert opts.changed == {"detach", "interactive", "tty", "name", "env", "last"}


def test_bool_flag_with_value_and_double_dash():
    opts, args = flagset().parse(["--detach=false", "--", "-i"])
    assert opts.detach is False and args == ["-i"]


def test_interspersed_and_not():
    _, args = flagset().parse(["a", "-d", "b"])
    assert args == ["a", "b"]
    opts, args = flagset(interspersed=False).parse(["a", "-d", "b"])
    assert args == ["a", "-d", "b"] and opts.detach is False


@pytest.mark.parametrize("argv,message", [
    (["--bogus"], "unknown flag: --bogus"),
    (["-x"], "unknown shorthand flag: 'x' in -x"),
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["-n", "abc"], 'invalid argument "abc" for "-n, --last" flag: strconv.ParseInt: '
                    'parsing "abc": invalid syntax'),
])
def test_flag_errors_exit_125(argv, message):
    with pytest.raises(UsageError) as info:
        flagset().parse(argv)
    assert info.value.status == 125
    assert str(info.value) == (f"{message}\n\nUsage:  dockyard run [OPTIONS] IMAGE\n\n"
                               "Run 'dockyard run --help' for more information")


def test_argument_count_errors_exit_1():
    with pytest.raises(UsageError) as info:
        flagset(min_args=1).parse([])
    assert info.value.status == 1
    assert str(info.value).startswith("dockyard: 'dockyard run' requires at least 1 argument")
    with pytest.raises(UsageError, match="accepts no arguments"):
        flagset(max_args=0).parse(["x"])
    with pytest.raises(UsageError, match="requires 2 arguments"):
        flagset(min_args=2, max_args=2).parse(["x"])


def test_help():
    with pytest.raises(HelpRequested) as info:
        flagset().parse(["--help"])
    assert "  -d, --detach" in info.value.flags.help_text()
