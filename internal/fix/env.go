package fix

import (
	"regexp"
	"strings"
	"sync"

	"github.com/edge-readiness/edge-readiness/internal/manifest"
)

// envVar is a module's env variable as written, matched case-insensitively
// (edgeAgent and the checks read them so); nil when unset.
func envVar(mod *manifest.Module, name string) *manifest.EnvVar {
	if mod == nil {
		return nil
	}
	var found *manifest.EnvVar
	for i := range mod.Env {
		switch {
		case mod.Env[i].Name == name:
			return &mod.Env[i]
		case strings.EqualFold(mod.Env[i].Name, name):
			found = &mod.Env[i]
		}
	}
	return found
}

// The regular expressions of this package are compiled on first use
// (sync.OnceValue): module mode never fixes a manifest and need not hold them.

// placeholderRE matches the placeholders of the tooling and pipelines:
// $VAR, ${VAR}, $(VAR), #{VAR}#, {{VAR}}, __VAR__, <VAR> (as
// manifest-secrets reads them).
var placeholderRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\$|#\{[^}]*\}#|\{\{[^}]*\}\}|__[A-Za-z0-9_]+__|<[^<>]*>`)
})

// hasVariable tells whether a value as written holds a placeholder.
func hasVariable(raw string) bool { return placeholderRE().MatchString(raw) }
