package sink

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// MergePatch returns the JSON merge patch (RFC 7396) that turns from into to:
// changed keys, nested objects diffed, removed keys set to null. It ignores
// the twin's own keys ($version, $metadata). An empty result means no change.
func MergePatch(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, tv := range to {
		if isTwinMeta(k) {
			continue
		}
		fv, ok := from[k]
		if !ok {
			patch[k] = tv
			continue
		}
		tm, tIsMap := tv.(map[string]any)
		fm, fIsMap := fv.(map[string]any)
		if tIsMap && fIsMap {
			if sub := MergePatch(fm, tm); len(sub) > 0 {
				patch[k] = sub
			}
			continue
		}
		if !reflect.DeepEqual(normalize(fv), normalize(tv)) {
			patch[k] = tv
		}
	}
	for k := range from {
		if isTwinMeta(k) {
			continue
		}
		if _, ok := to[k]; !ok {
			patch[k] = nil
		}
	}
	return patch
}

// ApplyMergePatch applies an RFC 7396 merge patch to doc in place and returns it.
func ApplyMergePatch(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(doc, k)
			continue
		}
		if pm, ok := pv.(map[string]any); ok {
			dm, _ := doc[k].(map[string]any)
			doc[k] = ApplyMergePatch(dm, pm)
			continue
		}
		doc[k] = pv
	}
	return doc
}

func isTwinMeta(k string) bool { return k == "$version" || k == "$metadata" }

// normalize makes numbers comparable whatever their decoded Go type.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// ToMap turns a JSON-marshalable value into the generic form twins use.
func ToMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding twin properties: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encoding twin properties: %w", err)
	}
	return m, nil
}
