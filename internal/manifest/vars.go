package manifest

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// The regular expressions of this package are compiled on first use
// (sync.OnceValue): module mode, which reads no manifest, need not hold them.

// varRE is Python's os.path.expandvars (posixpath, ASCII): $NAME of word
// characters, or ${anything but a closing brace}. iotedgedev applies it to
// the deployment template and to module.json (utility.py,
// get_file_contents); the VS Code extension's expandEnv reads the same
// $NAME and ${NAME}.
var varRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$(\w+|\{[^}]*\})`) })

// neverExpanded are the names the VS Code extension never replaces: the
// manifest's own $-names, which are no variables.
var neverExpanded = map[string]bool{"edgeAgent": true, "edgeHub": true, "upstream": true}

// Vars are the variables a manifest's $NAME and ${NAME} resolve from.
type Vars map[string]string

// expand replaces every variable that vars defines and returns the text
// with the variables left unresolved, as written ("${MODULES.filter}", "$REGISTRY").
func (v Vars) expand(s string) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var left []string
	out := varRE().ReplaceAllStringFunc(s, func(m string) string {
		name := m[1:]
		if strings.HasPrefix(name, "{") {
			name = name[1 : len(name)-1]
		}
		if neverExpanded[name] {
			return m
		}
		if val, ok := v[name]; ok {
			return val
		}
		left = append(left, m)
		return m
	})
	return out, left
}

// unresolvedIn lists the variables left in s.
func unresolvedIn(s string) []string {
	if !strings.Contains(s, "$") {
		return nil
	}
	var out []string
	for _, m := range varRE().FindAllString(s, -1) {
		name := strings.TrimSuffix(strings.TrimPrefix(m[1:], "{"), "}")
		if !neverExpanded[name] {
			out = append(out, m)
		}
	}
	return out
}

// EnvironVars turns os.Environ-style entries into Vars.
func EnvironVars(environ []string) Vars {
	v := make(Vars, len(environ))
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok && k != "" {
			v[k] = val
		}
	}
	return v
}

// LoadVars returns the variables of the env file (when path is not empty)
// with the environment's on top: as iotedgedev loads .env (python-dotenv's
// load_dotenv without override), a variable set in the environment wins
// over the file.
func LoadVars(path string, environ []string) (Vars, error) {
	env := EnvironVars(environ)
	if path == "" {
		return env, nil
	}
	data, err := readAtMost(path, maxEnvFile, "the env file")
	if err != nil {
		return nil, err
	}
	file, err := ParseDotenv(data, env)
	if err != nil {
		return nil, fmt.Errorf("env file %s: %w", path, err)
	}
	out := make(Vars, len(file)+len(env))
	for k, val := range file {
		out[k] = val
	}
	for k, val := range env {
		out[k] = val
	}
	return out, nil
}

// dotenvKeyRE is python-dotenv's unquoted key.
var dotenvKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^=#\s]+$`) })

// dotenvVarRE is python-dotenv's interpolation: ${NAME} or ${NAME:-default}.
var dotenvVarRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$\{([^}:]*)(?::-([^}]*))?\}`) })

// ParseDotenv reads a .env file as python-dotenv does (the parser iotedgedev
// uses): KEY=value lines, an optional "export ", comments, values single-
// quoted (literal), double-quoted (escapes, may span lines) or unquoted (a
// " #" starts a comment); ${NAME} and ${NAME:-default} in unquoted and
// double-quoted values resolve from the environment first, then from the
// file's earlier lines, and become empty (or the default) when unset. A
// key with no "=" is ignored. Errors name the line.
func ParseDotenv(data []byte, environ Vars) (map[string]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	out := map[string]string{}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		lineNo := i + 1
		line := strings.TrimSpace(lines[i])
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, rest, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok {
			continue
		}
		if len(key) >= 2 && (key[0] == '\'' || key[0] == '"') && key[len(key)-1] == key[0] {
			key = key[1 : len(key)-1]
		} else if !dotenvKeyRE().MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not a variable name", lineNo, key)
		}
		rest = strings.TrimLeft(rest, " \t")
		var val string
		interpolate := true
		switch {
		case strings.HasPrefix(rest, "'") || strings.HasPrefix(rest, `"`):
			q := rest[0]
			body, end, n, err := quoted(lines, i, rest[1:], q)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
			if tail := strings.TrimSpace(end); tail != "" && !strings.HasPrefix(tail, "#") {
				return nil, fmt.Errorf("line %d: text after the closing quote", lineNo)
			}
			i += n
			if q == '\'' {
				val, interpolate = strings.NewReplacer(`\\`, `\`, `\'`, `'`).Replace(body), false
			} else {
				val = unescapeDouble(body)
			}
		default:
			if j := strings.Index(rest, " #"); j >= 0 {
				rest = rest[:j]
			}
			if j := strings.Index(rest, "\t#"); j >= 0 {
				rest = rest[:j]
			}
			val = strings.TrimSpace(rest)
		}
		if interpolate {
			val = dotenvVarRE().ReplaceAllStringFunc(val, func(m string) string {
				sm := dotenvVarRE().FindStringSubmatch(m)
				if v, ok := environ[sm[1]]; ok && v != "" {
					return v
				}
				if v, ok := out[sm[1]]; ok && v != "" {
					return v
				}
				return sm[2]
			})
		}
		out[key] = val
	}
	return out, nil
}

// quoted reads a quoted value that may continue on the following lines;
// it returns the value, what follows the closing quote and how many more
// lines it took.
func quoted(lines []string, i int, first string, q byte) (body, after string, extra int, err error) {
	var b strings.Builder
	cur := first
	for {
		for j := 0; j < len(cur); j++ {
			c := cur[j]
			if c == '\\' && j+1 < len(cur) {
				b.WriteByte(c)
				b.WriteByte(cur[j+1])
				j++
				continue
			}
			if c == q {
				return b.String(), cur[j+1:], extra, nil
			}
			b.WriteByte(c)
		}
		extra++
		if i+extra >= len(lines) {
			return "", "", 0, fmt.Errorf("the quoted value is not closed")
		}
		b.WriteByte('\n')
		cur = lines[i+extra]
	}
}

// unescapeDouble decodes a double-quoted value's escapes as python-dotenv does.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\'`, `'`, `\n`, "\n", `\t`, "\t", `\r`, "\r", `\a`, "\a",
		`\b`, "\b", `\f`, "\f", `\v`, "\v").Replace(s)
}
