package facts

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestSampleJSONNonFinite: NaN, +Inf and -Inf, which encoding/json refuses
// as numbers, are written as the strings the Prometheus text format uses
// and read back to the same value; finite values stay JSON numbers.
func TestSampleJSONNonFinite(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		json string
	}{
		{math.NaN(), `"NaN"`}, {math.Inf(1), `"+Inf"`}, {math.Inf(-1), `"-Inf"`},
		{0, `0`}, {26.3598247, `26.3598247`}, {-1, `-1`}, {1e300, `1e+300`},
	} {
		in := Sample{Name: "edgeAgent_deployment_time_seconds", Labels: map[string]string{"quantile": "0.5"}, Value: tc.v}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%v: %v", tc.v, err)
		}
		if want := `{"name":"edgeAgent_deployment_time_seconds","labels":{"quantile":"0.5"},"value":` + tc.json + `}`; string(b) != want {
			t.Errorf("%v: %s, want %s", tc.v, b, want)
		}
		var out Sample
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		same := out.Value == tc.v || (math.IsNaN(out.Value) && math.IsNaN(tc.v))
		if !same || out.Name != in.Name || out.Labels["quantile"] != "0.5" {
			t.Errorf("%s read back as %+v", b, out)
		}
	}
}

func TestSampleJSONRefusesOtherValues(t *testing.T) {
	for doc, want := range map[string]string{
		`{"name":"x","value":"nan"}`:         `value "nan" is neither a number nor "NaN", "+Inf" or "-Inf"`,
		`{"name":"x","value":"Infinity"}`:    `value "Infinity" is neither a number`,
		`{"name":"x"}`:                       "sample x: no value",
		`{"name":"x","value":null}`:          "sample x: no value",
		`{"name":"x","value":1,"unit":"s"}`:  `unknown field "unit"`,
		`{"name":"x","value":[1]}`:           "value [1] is neither a number",
		`{"name":"x","labels":[],"value":1}`: "cannot unmarshal array",
	} {
		var s Sample
		err := json.Unmarshal([]byte(doc), &s)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", doc, err, want)
		}
	}
}
