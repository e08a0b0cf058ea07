package fix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// ChunkSize is how long a createOptions string may be before the IoT Edge
// tooling splits it into createOptions01, createOptions02, ... (iotedgedev's
// TWIN_VALUE_MAX_SIZE), and MaxChunks how many chunks edgeAgent joins.
const (
	ChunkSize = 512
	MaxChunks = 8
)

var createOptionsKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?i)^createoptions([0-9]*)$`) })

// errPlaceholder marks a value a fix must not touch: a variable stands
// where the fix would write.
var errPlaceholder = errors.New("placeholder")

// plan is what the fixes change in one module; render writes it.
type plan struct {
	name     string
	keys     []string // the module's object in the file
	src      string   // its text
	at       int      // its offset
	image    *string
	env      []member // variables to set, in order
	co       *createOptions
	template bool
}

// setEnv sets a variable of the module's env.
func (p *plan) setEnv(name, value string) {
	for i := range p.env {
		if p.env[i].Key == name {
			p.env[i].Value = value
			return
		}
	}
	p.env = append(p.env, member{name, value})
}

// createOptions is a module's createOptions being edited: the text as
// written (variables kept), as one JSON document.
type createOptions struct {
	kind   string   // "string", "object" or "" (none yet)
	chunks []string // the settings keys as written, in the order edgeAgent joins them
	d      *doc
	dirty  bool
}

// createOptions returns the module's createOptions for editing, or an error
// saying why a fix cannot edit them (wrapping errPlaceholder when a
// variable stands where JSON wants a value).
func (p *plan) createOptions(file *doc, majority func() string) (*createOptions, error) {
	if p.co != nil {
		return p.co, nil
	}
	mod := file.sub(p.src)
	settings := mod.resolve([]string{"settings"})
	co := &createOptions{}
	var text strings.Builder
	if s := mod.get(settings); s.IsObject() {
		s.ForEach(func(k, v gjson.Result) bool {
			if createOptionsKeyRE().MatchString(k.Str) {
				co.chunks = append(co.chunks, k.Str)
			}
			return true
		})
		sort.SliceStable(co.chunks, func(i, j int) bool { return strings.ToLower(co.chunks[i]) < strings.ToLower(co.chunks[j]) })
		for _, k := range co.chunks {
			v := mod.get(append(append([]string(nil), settings...), k))
			switch {
			case v.Type == gjson.String:
				if co.kind == "object" {
					return nil, errors.New("its createOptions mix strings and objects")
				}
				co.kind = "string"
				text.WriteString(v.Str)
			case v.IsObject() && len(co.chunks) == 1:
				co.kind = "object"
				text.WriteString(v.Raw)
			default:
				return nil, fmt.Errorf("its createOptions are %s, not a JSON string or object", v.Type)
			}
		}
	}
	t := strings.TrimSpace(text.String())
	if co.kind == "" || t == "" {
		if co.kind == "" {
			co.kind = majority()
		}
		t = "{}"
		co.dirty = true
	}
	if !gjson.Valid(t) {
		return nil, fmt.Errorf("its createOptions are not JSON until their variables are expanded: %w", errPlaceholder)
	}
	if !gjson.Parse(t).IsObject() {
		return nil, errors.New("its createOptions are not a JSON object (see create-options-valid)")
	}
	if co.kind == "object" && len(co.chunks) == 1 && !co.dirty {
		t = text.String() // as written, over its lines
	}
	co.d = newDoc([]byte(t))
	if co.kind == "object" {
		co.d = file.sub(t)
	}
	p.co = co
	return co, nil
}

// render writes the plan into the file: the module's object is edited as a
// document of its own, then spliced in.
func (p *plan) render(file *doc) error {
	d := file.sub(p.src)
	if err := p.renderModule(d); err != nil {
		return err
	}
	file.splice(p.at, len(p.src), d.b)
	return nil
}

func (p *plan) renderModule(file *doc) error {
	var mod []string
	at := func(keys ...string) []string { return append(append([]string(nil), mod...), keys...) }
	if p.image != nil {
		img := file.resolve(at("settings", "image"))
		if len(img) != len(mod)+2 {
			return errors.New("no settings.image")
		}
		if err := file.replace(img, *p.image); err != nil {
			return err
		}
	}
	if len(p.env) > 0 {
		env := file.resolve(at("env"))
		if len(env) == len(mod)+1 && file.get(env).IsObject() {
			for _, e := range p.env {
				if file.get(append(append([]string(nil), env...), e.Key)).IsObject() {
					if err := file.set(append(append([]string(nil), env...), e.Key, "value"), e.Value); err != nil {
						return err
					}
					continue
				}
				if err := file.addMember(env, e.Key, object{{"value", e.Value}}); err != nil {
					return err
				}
			}
		} else {
			vars := object{}
			for _, e := range p.env {
				vars = append(vars, member{e.Key, object{{"value", e.Value}}})
			}
			if err := file.addMember(mod, "env", vars); err != nil {
				return err
			}
		}
	}
	if p.co != nil && p.co.dirty {
		return p.co.render(file, at("settings"), p.template)
	}
	return nil
}

// rawJSON is JSON text written as it is (and indented with its container).
type rawJSON string

// MarshalJSON returns the text.
func (r rawJSON) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// render writes the createOptions back where they were, in the shape they
// had: an object stays an object; a string stays a string, split into
// chunks of ChunkSize characters when it grows longer (in a generated or
// exported deployment; a template keeps one string, which the tooling
// splits when it generates the deployment) or when it was split already.
func (co *createOptions) render(file *doc, settingsKeys []string, template bool) error {
	settings := file.resolve(settingsKeys)
	if len(settings) != len(settingsKeys) {
		if err := file.addMember(settingsKeys[:len(settingsKeys)-1], "settings", object{}); err != nil {
			return err
		}
		settings = settingsKeys
	}
	at := func(k string) []string { return append(append([]string(nil), settings...), k) }
	text := co.d.b
	if co.kind == "object" {
		if len(co.chunks) == 1 {
			return file.replaceRaw(at(co.chunks[0]), text)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(co.d.b)); err != nil {
			return fmt.Errorf("writing createOptions: %w", err)
		}
		return file.addMember(settings, "createOptions", rawJSON(compact.String()))
	}
	pieces := []string{text}
	if len(co.chunks) > 1 || (!template && utf8.RuneCountInString(text) > ChunkSize) {
		pieces = splitChunks(text)
	}
	if len(pieces) > MaxChunks {
		return fmt.Errorf("the createOptions would take %d chunks of %d characters, more than edgeAgent's %d", len(pieces), ChunkSize, MaxChunks)
	}
	for i, piece := range pieces {
		if i < len(co.chunks) {
			if err := file.replace(at(co.chunks[i]), piece); err != nil {
				return err
			}
			continue
		}
		if err := file.addMember(settings, chunkKey(i), piece); err != nil {
			return err
		}
	}
	for _, k := range co.chunks[min(len(pieces), len(co.chunks)):] {
		if err := file.deleteMember(settings, k); err != nil {
			return err
		}
	}
	return nil
}

// chunkKey names the i-th chunk as the tooling does: createOptions,
// createOptions01, createOptions02, ...
func chunkKey(i int) string {
	if i == 0 {
		return "createOptions"
	}
	return fmt.Sprintf("createOptions%02d", i)
}

// splitChunks cuts s into pieces of ChunkSize characters.
func splitChunks(s string) []string {
	var out []string
	for s != "" {
		n, i := 0, 0
		for i < len(s) && n < ChunkSize {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
			n++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
