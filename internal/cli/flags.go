package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseFlags parses a command's flags. Help (-h, --help) is asked for, so it
// goes to stdout and the command ends with ExitOK; a bad flag is one line on
// stderr with a hint where the help is, and ExitUsage. done is false when
// the command goes on.
func parseFlags(fs *flag.FlagSet, args []string, env Env) (code int, done bool) {
	fs.SetOutput(io.Discard) // the flag package would print the whole usage after each error
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return ExitOK, false
	case errors.Is(err, flag.ErrHelp):
		writeUsage(env.Stdout, fs)
		return ExitOK, true
	}
	fmt.Fprintf(env.Stderr, "%s: %v (run 'edge-readiness %s -h' for its flags)\n", fs.Name(), err, fs.Name())
	return ExitUsage, true
}

// writeUsage prints a command's flags.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: edge-readiness %s [flags]\n\nflags:\n", fs.Name())
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
