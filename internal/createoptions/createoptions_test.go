package createoptions

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	req, problems, err := Parse(`{
		"Env": ["A=1"], "Cmd": "run", "labels": {"team": true, "n": 3},
		"HostConfig": {"Memory": "268435456", "NanoCpus": 5e8, "Privileged": "True", "Binds": ["/a:/b"],
			"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": 8080}]},
			"LogConfig": {"Type": "json-file", "Config": {"max-file": 3}},
			"Devices": [{"PathOnHost": "/dev/x", "PathnContainer": "/dev/x"}],
			"Hostconfir": 1},
		"NetworkingConfig": {"EndpointsConfig": {"host": {}}},
		"Memory": 1, "HostConfir": {}, "Volumes": {"/data": {}, "/cache": null}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	hc := req.HostConfig
	if req.Env[0] != "A=1" || req.Cmd[0] != "run" || req.Labels["team"] != "True" || req.Labels["n"] != "3" ||
		hc.Memory != 268435456 || hc.NanoCPUs != 500000000 || hc.Devices[0].PathOnHost != "/dev/x" || !hc.Privileged || hc.Binds[0] != "/a:/b" ||
		hc.PortBindings["80/tcp"][0].HostPort != "8080" || hc.LogConfig.Config["max-file"] != "3" || len(req.Volumes) != 2 {
		t.Errorf("decoded %+v %+v", req.Config, hc)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"HostConfig.Devices[0].PathnContainer: not a key of HostConfig.Devices[0] in the Docker Engine API: the runtime drops it; did you mean PathInContainer?",
		"HostConfig.Hostconfir: not a key of HostConfig in the Docker Engine API: the runtime drops it",
		"HostConfir: not a key of the container-create body in the Docker Engine API: the runtime drops it; did you mean HostConfig?",
		"Memory: not a key of the container-create body in the Docker Engine API: the runtime drops it; Memory belongs inside HostConfig",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems\n%q\nwant\n%q", got, want)
	}
}

func TestParseTypes(t *testing.T) {
	for text, want := range map[string]string{
		`{"HostConfig":{"Memory":"256m"}}`:       "HostConfig.Memory: is a string that is not a number or a boolean, not a number",
		`{"HostConfig":{"Memory":1.5}}`:          "HostConfig.Memory: is not a whole number that fits the field (64 bits)",
		`{"HostConfig":{"Privileged":"yes"}}`:    "HostConfig.Privileged: is a string that is not a number or a boolean, not true or false",
		`{"HostConfig":{"Binds":"/a:/b"}}`:       "HostConfig.Binds: is a string, not an array",
		`{"HostConfig":[]}`:                      "HostConfig: is an array, not an object",
		`{"Env":[{"A":1}]}`:                      "Env[0]: is an object, not a string",
		`{"Cmd":{"a":1}}`:                        "Cmd: is an object, which the field cannot take",
		`{"HostConfig":{"CpuShares":-1}}`:        "",
		`{"HostConfig":{"BlkioWeight":70000}}`:   "HostConfig.BlkioWeight: is not a whole, non-negative number that fits the field (16 bits)",
		`{"ExposedPorts":{"80/tcp":{}},"Tty":1}`: "Tty: is a number, not true or false",
	} {
		_, problems, err := Parse(text)
		if err != nil {
			t.Errorf("%s: %v", text, err)
			continue
		}
		var got []string
		for _, p := range problems {
			if p.Unknown {
				t.Errorf("%s: unknown %v", text, p)
			}
			got = append(got, p.String())
		}
		if strings.Join(got, "; ") != want {
			t.Errorf("%s: %q, want %q", text, got, want)
		}
	}
}

func TestParseNotAnObject(t *testing.T) {
	for text, want := range map[string]string{
		"":                 "",
		"  ":               "",
		"null":             "",
		"{}":               "",
		"[1]":              "createOptions is not a JSON object (it is an array)",
		`"x"`:              "createOptions is not a JSON object (it is a string)",
		`{"a":`:            "createOptions is not valid JSON: the text ends before the JSON value does",
		"{\n \"a\" 1}":     "createOptions is not valid JSON: invalid character '1' after object key (line 2, column 6)",
		`{} {}`:            "createOptions is not valid JSON: text after the value (line 1, column 3)",
		`{'Env': ['a=b']}`: "createOptions is not valid JSON: invalid character '\\'' looking for beginning of object key string (line 1, column 2)",
	} {
		_, _, err := Parse(text)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%q: error %q, want %q", text, got, want)
		}
	}
}
