package emulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// MergePatch applies a JSON merge patch (RFC 7396) to target in place: a
// null removes the key, an object merges recursively into an object (or
// replaces a non-object), anything else replaces the value.
func MergePatch(target, patch map[string]any) {
	for k, v := range patch {
		if v == nil {
			delete(target, k)
			continue
		}
		if pobj, ok := v.(map[string]any); ok {
			tobj, ok := target[k].(map[string]any)
			if !ok {
				tobj = map[string]any{}
			}
			MergePatch(tobj, pobj)
			target[k] = tobj
			continue
		}
		target[k] = deepCopy(v)
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = deepCopy(x)
		}
		return s
	default:
		return v
	}
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return deepCopy(m).(map[string]any)
}

// decodeObject decodes a JSON object keeping numbers exact.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("invalid JSON: trailing data")
	}
	m, ok := v.(map[string]any)
	if !ok || m == nil {
		return nil, fmt.Errorf("the patch must be a JSON object")
	}
	return m, nil
}

// Twin limits enforced by IoT Hub and edgeHub (ReportedPropertiesValidator).
const (
	twinMaxDepth       = 10
	twinMaxNameLength  = 1024
	twinMaxValueLength = 4096
	twinMaxDocLength   = 32 * 1024
	twinMaxSafeInteger = 4503599627370495
)

// validateReportedPatch applies edgeHub's checks on a reported properties
// patch: property names without '.', '$', '#', whitespace or control
// characters and at most 1 KB, string values at most 4 KB, integers within
// +-2^52, depth at most 10 and no null inside arrays.
func validateReportedPatch(patch map[string]any) error {
	return validateObject(patch, 1)
}

func validateObject(m map[string]any, depth int) error {
	if depth > twinMaxDepth {
		return fmt.Errorf("nested depth of twin property exceeds %d", twinMaxDepth)
	}
	for k, v := range m {
		if err := validateName(k); err != nil {
			return err
		}
		if err := validateValue(k, v, depth, false); err != nil {
			return err
		}
	}
	return nil
}

func validateName(name string) error {
	if len(name) > twinMaxNameLength {
		return fmt.Errorf("length of property name %.10s.. exceeds maximum length of %d", name, twinMaxNameLength)
	}
	if name == "" {
		return fmt.Errorf("property name must not be empty")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '.' || r == '$' || r == '#' || unicode.IsSpace(r) {
			return fmt.Errorf("property name %s contains invalid character '%c'", name, r)
		}
	}
	return nil
}

func validateValue(name string, v any, depth int, inArray bool) error {
	switch t := v.(type) {
	case nil:
		if inArray {
			return fmt.Errorf("arrays cannot contain 'null' as value")
		}
	case map[string]any:
		return validateObject(t, depth+1)
	case []any:
		if depth+1 > twinMaxDepth {
			return fmt.Errorf("nested depth of twin property exceeds %d", twinMaxDepth)
		}
		for _, x := range t {
			if err := validateValue(name, x, depth+1, true); err != nil {
				return err
			}
		}
	case string:
		if len(t) > twinMaxValueLength {
			return fmt.Errorf("value associated with property name %s has length %d that exceeds maximum length of %d", name, len(t), twinMaxValueLength)
		}
	case json.Number:
		if i, err := t.Int64(); err == nil && (i > twinMaxSafeInteger || i < -twinMaxSafeInteger-1) {
			return fmt.Errorf("property %s has an out of bound value", name)
		}
	}
	return nil
}

// docSize is the size edgeHub and this emulator use for the twin document
// limits: the length of the section's JSON without $version and $metadata.
func docSize(props map[string]any) int {
	b, err := json.Marshal(props)
	if err != nil {
		return 0
	}
	return len(b)
}

// stripReserved removes the read-only keys IoT Hub adds to a twin section,
// so that a document read from the service API can be written back.
func stripReserved(m map[string]any) {
	delete(m, "$version")
	delete(m, "$metadata")
}

// stampMetadata updates a $metadata tree after patch was merged: touched
// keys get $lastUpdated (and $lastUpdatedVersion when version > 0), deleted
// keys lose their metadata.
func stampMetadata(meta, patch map[string]any, ts string, version int64) {
	stamp := func(m map[string]any) {
		m["$lastUpdated"] = ts
		if version > 0 {
			m["$lastUpdatedVersion"] = version
		}
	}
	stamp(meta)
	for k, v := range patch {
		if v == nil {
			delete(meta, k)
			continue
		}
		if obj, ok := v.(map[string]any); ok {
			child, ok := meta[k].(map[string]any)
			if !ok {
				child = map[string]any{}
			}
			stampMetadata(child, obj, ts, version)
			meta[k] = child
			continue
		}
		leaf := map[string]any{}
		stamp(leaf)
		meta[k] = leaf
	}
}
