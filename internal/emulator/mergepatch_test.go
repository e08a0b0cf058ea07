package emulator

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func mustObject(t *testing.T, s string) map[string]any {
	t.Helper()
	m, err := decodeObject([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return m
}

func TestMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, target, patch, want string
	}{
		{"add and replace", `{"a":1,"b":"x"}`, `{"b":"y","c":true}`, `{"a":1,"b":"y","c":true}`},
		{"null deletes", `{"a":1,"b":2}`, `{"a":null}`, `{"b":2}`},
		{"null deletes nested keys", `{"cfg":{"x":1,"y":{"z":2,"w":3}},"k":1}`, `{"cfg":{"y":{"z":null}}}`, `{"cfg":{"x":1,"y":{"w":3}},"k":1}`},
		{"null deletes whole subtree", `{"cfg":{"x":1,"y":{"z":2}}}`, `{"cfg":{"y":null}}`, `{"cfg":{"x":1}}`},
		{"nested objects merge", `{"cfg":{"x":1}}`, `{"cfg":{"y":2}}`, `{"cfg":{"x":1,"y":2}}`},
		{"object replaces scalar", `{"a":1}`, `{"a":{"b":1,"c":null}}`, `{"a":{"b":1}}`},
		{"scalar replaces object", `{"a":{"b":1}}`, `{"a":5}`, `{"a":5}`},
		{"arrays are replaced", `{"a":[1,2,3]}`, `{"a":[4]}`, `{"a":[4]}`},
		{"deleting a missing key", `{"a":1}`, `{"b":null}`, `{"a":1}`},
		{"big integers stay exact", `{}`, `{"n":9007199254740993}`, `{"n":9007199254740993}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := mustObject(t, tc.target)
			MergePatch(target, mustObject(t, tc.patch))
			got, _ := json.Marshal(target)
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tc.want), &w)
			if !reflect.DeepEqual(g, w) || (tc.name == "big integers stay exact" && !strings.Contains(string(got), "9007199254740993")) {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMergePatchDoesNotAliasPatch(t *testing.T) {
	t.Parallel()
	target := map[string]any{}
	patch := mustObject(t, `{"a":{"b":[1,{"c":2}]}}`)
	MergePatch(target, patch)
	patch["a"].(map[string]any)["b"].([]any)[1].(map[string]any)["c"] = 3
	if got, _ := json.Marshal(target); string(got) != `{"a":{"b":[1,{"c":2}]}}` {
		t.Fatalf("target changed with the patch: %s", got)
	}
}

func TestDecodeObjectRefusesNonObjects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`[1]`, `"x"`, `null`, `{"a":`, `{} {}`, `42`} {
		if _, err := decodeObject([]byte(s)); err == nil {
			t.Errorf("%s: want error", s)
		}
	}
}

func TestValidateReportedPatch(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", twinMaxValueLength+1)
	bad := []string{
		`{"a.b":1}`, `{"$version":1}`, `{"a b":1}`, `{"a#":1}`,
		`{"a":"` + long + `"}`,
		`{"a":[1,null]}`,
		`{"n":4503599627370496}`,
		// 11 objects below the root: edgeHub allows 10.
		`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}}`,
		`{"a":"` + strings.Repeat("y", 32*1024) + `"}`, // patch over 32 KiB (and value over 4 KiB)
		`{"a":[{"b":[1,null]}]}`,                       // null deep inside an array
	}
	for _, s := range bad {
		if err := validateReportedPatch(mustObject(t, s)); err == nil {
			t.Errorf("%.60s: want error", s)
		}
	}
	good := []string{`{"a":null}`, `{"a":{"b":[1,"x",{"c":true}]}}`, `{"n":4503599627370495}`, `{"f":1.5}`,
		// 10 objects below the root, as edgeHub allows (the emulator used to
		// refuse this one level earlier).
		`{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}`,
		// edgeHub checks names neither inside arrays nor for emptiness.
		`{"a":[{"b.c":1}],"":1}`,
	}
	for _, s := range good {
		if err := validateReportedPatch(mustObject(t, s)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

func TestStampMetadata(t *testing.T) {
	t.Parallel()
	meta := map[string]any{}
	stampMetadata(meta, mustObject(t, `{"a":{"b":1},"c":2}`), "T1", 2)
	stampMetadata(meta, mustObject(t, `{"a":{"d":3},"c":null}`), "T2", 3)
	got, _ := json.Marshal(meta)
	want := `{"$lastUpdated":"T2","$lastUpdatedVersion":3,"a":{"$lastUpdated":"T2","$lastUpdatedVersion":3,"b":{"$lastUpdated":"T1","$lastUpdatedVersion":2},"d":{"$lastUpdated":"T2","$lastUpdatedVersion":3}}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
