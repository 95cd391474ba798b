"""Golden cases for the Go text/template subset behind --format."""

import pytest

from dockyard.cli.template import Template, TemplateError, render

INSPECT = {
    "Id": "0123456789abcdef",
    "Name": "/web",
    "State": {"Status": "running", "Running": True, "Pid": 42, "ExitCode": 0},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"z": "last", "a": "first"},
               "Entrypoint": None, "Cmd": ["sh", "-c", "x"]},
    "NetworkSettings": {"IPAddress": "10.0.0.2", "Ports": {}},
    "Ratio": 1.5,
    "Created": 1700000000.0,
}

GOLDEN = [
    ("{{.State.Status}}", "running"),
    ("{{.NetworkSettings.IPAddress}}", "10.0.0.2"),
    ("{{.State.Running}} {{.State.Pid}}", "true 42"),
    ("{{json .Config}}", '{"Env":["A=1","B=2"],"Labels":{"z":"last","a":"first"},'
                         '"Entrypoint":null,"Cmd":["sh","-c","x"]}'),
    ("{{.Config.Env | json}}", '["A=1","B=2"]'),
    ("{{.Config.Env}}", "[A=1 B=2]"),
    ("{{.Config.Labels}}", "map[a:first z:last]"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Config.Missing.Deeper}}", "<no value>"),
    ("{{.Config.Entrypoint}}", "<nil>"),
    ("{{.Ratio}} {{.Created}}", "1.5 1700000000"),
    ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1><B=2>"),
    ("{{range $i, $e := .Config.Cmd}}{{$i}}={{$e}} {{end}}", "0=sh 1=-c 2=x "),
    ("{{range $k, $v := .Config.Labels}}{{$k}}:{{$v}},{{end}}", "a:first,z:last,"),
    ("{{range .Config.Entrypoint}}x{{else}}empty{{end}}", "empty"),
    ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
    ("{{if .Config.Entrypoint}}e{{else if .Config.Cmd}}c{{else}}n{{end}}", "c"),
    ("{{if not .State.ExitCode}}ok{{end}}", "ok"),
    ('{{if eq .State.Status "running" "paused"}}live{{end}}', "live"),
    ('{{if and .State.Running (gt .State.Pid 1)}}yes{{end}}', "yes"),
    ('{{index .Config.Labels "a"}}', "first"),
    ("{{index .Config.Cmd 1}}", "-c"),
    ('{{join .Config.Env ","}}', "A=1,B=2"),
    ('{{split "a:b:c" ":"}}', "[a b c]"),
    ("{{lower .State.Status}}{{upper .State.Status}}", "runningRUNNING"),
    ('{{title "hello big world"}}', "Hello Big World"),
    ('{{printf "%s has pid %d" .Name .State.Pid}}', "/web has pid 42"),
    ('{{printf "%-6s|%5v|%q" "ab" 12 "x"}}', 'ab    |   12|"x"'),
    ("{{println .Name}}", "/web\n"),
    ("{{len .Config.Env}}", "2"),
    ('{{truncate .Id 4}}', "0123"),
    ("{{with .State}}{{.Status}}{{end}}", "running"),
    ("{{$n := .Name}}{{$n}}{{$.Id}}", "/web0123456789abcdef"),
    ("{{/* a comment */}}x", "x"),
    ("a  {{- .Name -}}  b", "a/webb"),
    ('{{"}}"}}', "}}"),
    ("{{.Name | printf \"%s!\"}}", "/web!"),
    ("{{(index .Config.Cmd 0) | upper}}", "SH"),
    ("plain text", "plain text"),
]


@pytest.mark.parametrize("source,expected", GOLDEN)
def test_golden(source, expected):
    assert render(source, INSPECT) == expected


@pytest.mark.parametrize("source", ["{{.Name", "{{if .X}}no end", "{{end}}", "{{nosuchfunc .X}}",
                                    "{{range}}{{end}}"])
def test_bad_templates_fail_to_parse(source):
    with pytest.raises(TemplateError):
        Template(source).render(INSPECT)


class Row:
    ID = "abc"

    def Label(self, name):
        return {"k": "v"}.get(name, "")


def test_methods_receive_arguments():
    assert render('{{.ID}} {{.Label "k"}}', Row()) == "abc v"


def test_unknown_field_on_object_is_an_error():
    with pytest.raises(TemplateError):
        render("{{.Nope}}", Row())
