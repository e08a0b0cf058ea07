package testenv

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// TB is what the engine helpers need of a test: testing.TB has it, and so
// has the background of PrebuildImages, which runs outside any test.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Fatal(args ...any)
	Skip(args ...any)
	Cleanup(func())
}

// background is a TB for work done outside any test: Fatalf and Skip end
// the goroutine (as they end a test's), keeping why.
type background struct {
	mu       sync.Mutex
	log      strings.Builder
	err      error
	cleanups []func()
}

func (b *background) Helper() {}

func (b *background) Logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.log, format+"\n", args...)
}

func (b *background) Fatalf(format string, args ...any) {
	b.mu.Lock()
	b.err = fmt.Errorf(format, args...)
	b.mu.Unlock()
	runtime.Goexit()
}

func (b *background) Fatal(args ...any) { b.Fatalf("%s", fmt.Sprint(args...)) }

func (b *background) Skip(args ...any) { b.Fatalf("skipped: %s", fmt.Sprint(args...)) }

func (b *background) Cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

// run calls f on b in a goroutine of its own and returns once f has
// returned or ended with Fatalf, after the cleanups f registered.
func (b *background) run(f func(TB)) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			b.mu.Lock()
			cs := b.cleanups
			b.cleanups = nil
			b.mu.Unlock()
			for i := len(cs) - 1; i >= 0; i-- {
				cs[i]()
			}
		}()
		f(b)
	}()
	<-done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}
