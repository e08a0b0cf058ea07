package facts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// sampleJSON is Sample as JSON: Value is a number, or for the values JSON
// cannot hold, the string the Prometheus text format writes for them:
// "NaN", "+Inf" or "-Inf" (edgeAgent exports NaN for a summary with no
// observations, such as edgeAgent_deployment_time_seconds).
type sampleJSON struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  json.RawMessage   `json:"value"`
}

// MarshalJSON writes Value as a number, or as "NaN", "+Inf" or "-Inf".
func (s Sample) MarshalJSON() ([]byte, error) {
	var v []byte
	switch {
	case math.IsNaN(s.Value):
		v = []byte(`"NaN"`)
	case math.IsInf(s.Value, 1):
		v = []byte(`"+Inf"`)
	case math.IsInf(s.Value, -1):
		v = []byte(`"-Inf"`)
	default:
		v = strconv.AppendFloat(nil, s.Value, 'g', -1, 64)
	}
	return json.Marshal(sampleJSON{Name: s.Name, Labels: s.Labels, Value: v})
}

// UnmarshalJSON reads what MarshalJSON writes; any other string is refused.
func (s *Sample) UnmarshalJSON(data []byte) error {
	var raw sampleJSON
	if err := strictUnmarshal(data, &raw); err != nil {
		return err
	}
	var v float64
	switch string(raw.Value) {
	case `"NaN"`:
		v = math.NaN()
	case `"+Inf"`:
		v = math.Inf(1)
	case `"-Inf"`:
		v = math.Inf(-1)
	case "", "null":
		return fmt.Errorf("sample %s: no value", raw.Name)
	default:
		if err := json.Unmarshal(raw.Value, &v); err != nil {
			return fmt.Errorf("sample %s: value %s is neither a number nor \"NaN\", \"+Inf\" or \"-Inf\"", raw.Name, raw.Value)
		}
	}
	*s = Sample{Name: raw.Name, Labels: raw.Labels, Value: v}
	return nil
}

// strictUnmarshal decodes data into v refusing unknown fields, as
// DecodeSnapshot does for the rest of the document (a custom UnmarshalJSON
// does not inherit the outer decoder's setting).
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
