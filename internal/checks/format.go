package checks

import (
	"fmt"
	"math"
	"net"
)

// plural writes "1 restart", "2 restarts".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func pluralVerb(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func roundTo(f float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}

func isIP(s string) bool { return net.ParseIP(s) != nil }

// orName writes s, or def when s is empty ("unset", "latest").
func orName(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
