package emulator

import (
	"encoding/json"
	"fmt"
	"sort"
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

// validateReportedPatch applies edgeHub's ReportedPropertiesValidator to a
// reported-properties patch alone: property names at most 1024 bytes without
// control characters, '.', '$', '#' or whitespace; values other than
// integers at most 4096 bytes as text; integers within [-2^52, 2^52-1];
// objects nested at most 10 levels below the root (arrays are neither
// counted nor looked into, except that they hold no null); the whole patch
// at most 32 KiB of JSON.
func validateReportedPatch(patch map[string]any) error {
	if err := validateProperties(patch, 1); err != nil {
		return err
	}
	b, _ := marshalCompact(patch)
	if len(b) > twinMaxDocLength {
		return fmt.Errorf("twin properties size %d exceeds maximum %d", len(b), twinMaxDocLength)
	}
	return validateArrayContent(patch)
}

// validateProperties is ValidateTwinProperties: depth is that of m's
// properties, 1 for the root's.
func validateProperties(m map[string]any, depth int) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := validateName(k); err != nil {
			return err
		}
		switch v := m[k].(type) {
		case map[string]any:
			if depth > twinMaxDepth {
				return fmt.Errorf("nested depth of twin property exceeds %d", twinMaxDepth)
			}
			if err := validateProperties(v, depth+1); err != nil {
				return err
			}
		case []any: // not validated here
		case json.Number:
			if isInteger(v) {
				i, err := v.Int64()
				if err != nil || i > twinMaxSafeInteger || i < -twinMaxSafeInteger-1 {
					return fmt.Errorf("property %s has an out of bound value. Valid values are between %d and %d", k, -twinMaxSafeInteger-1, twinMaxSafeInteger)
				}
			} else if len(v.String()) > twinMaxValueLength {
				return valueTooLong(k, len(v.String()))
			}
		case string:
			if len(v) > twinMaxValueLength {
				return valueTooLong(k, len(v))
			}
		}
	}
	return nil
}

func valueTooLong(name string, n int) error {
	return fmt.Errorf("value associated with property name %s has length %d that exceeds maximum length of %d", name, n, twinMaxValueLength)
}

// isInteger tells a JSON integer from a float the way Json.NET does: no
// fraction and no exponent.
func isInteger(n json.Number) bool { return !strings.ContainsAny(n.String(), ".eE") }

func validateName(name string) error {
	if len(name) > twinMaxNameLength {
		return fmt.Errorf("length of property name %.10s.. exceeds maximum length of %d", name, twinMaxNameLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '.' || r == '$' || r == '#' || unicode.IsSpace(r) {
			return fmt.Errorf("property name %s contains invalid character '%c'", name, r)
		}
	}
	return nil
}

// validateArrayContent refuses null inside arrays, at any depth.
func validateArrayContent(v any) error {
	switch t := v.(type) {
	case []any:
		for _, x := range t {
			if x == nil {
				return fmt.Errorf("arrays cannot contain 'null' as value")
			}
			if err := validateArrayContent(x); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, x := range t {
			if err := validateArrayContent(x); err != nil {
				return err
			}
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
