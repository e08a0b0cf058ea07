package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// AxeVersion is the axe-core release .ci/run installs from npm into
// bin/npm (npm install --prefix bin/npm axe-core@AxeVersion).
const AxeVersion = "4.14.1"

// requireTool skips an engine-tier test when a tool is missing, or fails
// it under CI (CI=true), as RequireDocker does for the engine.
func requireTool(t testing.TB, msg string) {
	t.Helper()
	if IsCI() {
		t.Fatal("testenv: " + msg + " (CI=true: browser tests are never skipped)")
	}
	t.Skip("testenv: " + msg)
}

// RequireChromium returns the path of a Chromium (Debian's chromium,
// which .ci/run installs). The browser tests belong to the engine tier:
// skipped with -short; without -short a missing browser skips the test,
// except under CI, where it fails.
func RequireChromium(t testing.TB) string {
	t.Helper()
	SkipIfShort(t, "needs chromium")
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	requireTool(t, "no chromium on PATH: install it (as root: `apt-get install chromium`, or run `bash .ci/run`)")
	return ""
}

// AxeScript returns axe-core's axe.min.js as .ci/run installs it under
// bin/npm; a missing file skips the test (fails it under CI), as
// RequireChromium does.
func AxeScript(t testing.TB) string {
	t.Helper()
	SkipIfShort(t, "needs axe-core")
	p := filepath.Join(RepoRoot(t), "bin", "npm", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		requireTool(t, "no axe-core at "+p+": install it (`npm install --prefix bin/npm axe-core@"+AxeVersion+"`, or run `bash .ci/run`)")
	}
	return string(b)
}

// PageLoad is what a browser saw while loading a page from disk.
type PageLoad struct {
	// Requests are the URLs the page asked for besides itself.
	Requests []string
	// Errors are the console's errors and warnings, uncaught exceptions
	// and the browser's own log entries of level error or warning (a
	// Content-Security-Policy violation is one).
	Errors []string
	// Violations are axe-core's serious and critical violations.
	Violations []string
	// Impacts counts all of axe-core's violations by impact.
	Impacts map[string]int
	// Shots are PNG screenshots of the top of the page by viewport width.
	Shots map[int][]byte
	// Title is the document's title.
	Title string
	// PDF is the page printed as the browser prints it, by paper size
	// (A4, Letter), with the page's print style.
	PDF map[string][]byte
}

// PDFPages counts the pages of a PDF the browser printed.
func PDFPages(pdf []byte) int {
	return len(pdfPage.FindAll(pdf, -1))
}

var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)

// LoadPage opens file in headless Chromium with the network and the console
// recorded, waits for it to load, runs axe-core on it, and takes a
// screenshot of the top of the page (height pixels) at each width.
func LoadPage(t testing.TB, chromium, axe, file string, height int64, widths ...int64) PageLoad {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	url := "file://" + abs
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"),
	)
	// Not t.TempDir: the browser's helpers may still write there when the
	// test ends, and a directory that cannot be removed fails the test.
	profile, err := os.MkdirTemp("", "edge-readiness-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts = append(opts, chromedp.UserDataDir(profile))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer func() {
		cancelA() // waits for the browser to exit
		for range 10 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()

	var mu sync.Mutex
	load := PageLoad{Shots: map[int][]byte{}, Impacts: map[string]int{}, PDF: map[string][]byte{}}
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.URL != url {
				load.Requests = append(load.Requests, ev.Request.URL)
			}
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.APITypeError || ev.Type == cdpruntime.APITypeWarning || ev.Type == cdpruntime.APITypeAssert {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				load.Errors = append(load.Errors, "console."+string(ev.Type)+": "+strings.Join(args, " "))
			}
		case *cdpruntime.EventExceptionThrown:
			load.Errors = append(load.Errors, "exception: "+ev.ExceptionDetails.Error())
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError || ev.Entry.Level == cdplog.LevelWarning {
				load.Errors = append(load.Errors, fmt.Sprintf("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), cdplog.Enable(), cdpruntime.Enable(),
		emulation.SetDeviceMetricsOverride(widths[0], height, 1, false),
		chromedp.Navigate(url), chromedp.WaitReady("body", chromedp.ByQuery), chromedp.Title(&load.Title)); err != nil {
		t.Fatalf("loading %s in chromium: %v", file, err)
	}
	for _, w := range widths {
		var shot []byte
		if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(w, height, 1, w < 600),
			chromedp.Sleep(200*time.Millisecond),
			chromedp.ActionFunc(func(ctx context.Context) error {
				var err error
				shot, err = page.CaptureScreenshot().WithFormat(page.CaptureScreenshotFormatPng).Do(ctx)
				return err
			})); err != nil {
			t.Fatalf("screenshot of %s at %d px: %v", file, w, err)
		}
		load.Shots[int(w)] = smallPNG(t, shot)
	}
	for _, paper := range []struct {
		name string
		w, h float64 // inches
	}{{"A4", 8.27, 11.69}, {"Letter", 8.5, 11}} {
		if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
			pdf, _, err := page.PrintToPDF().WithPaperWidth(paper.w).WithPaperHeight(paper.h).WithPreferCSSPageSize(false).Do(ctx)
			load.PDF[paper.name] = pdf
			return err
		})); err != nil {
			t.Fatalf("printing %s on %s: %v", file, paper.name, err)
		}
	}
	// axe-core, injected through the DevTools protocol (the page's policy
	// lets no script in, and should not), on the page at the first width.
	type violation struct {
		ID          string `json:"id"`
		Impact      string `json:"impact"`
		Description string `json:"description"`
		Nodes       []struct {
			Target []any  `json:"target"`
			HTML   string `json:"html"`
		} `json:"nodes"`
	}
	var raw string
	if err := chromedp.Run(ctx, emulation.SetDeviceMetricsOverride(widths[0], height, 1, false),
		chromedp.Evaluate(axe, nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, &raw,
			func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) })); err != nil {
		t.Fatalf("axe-core on %s: %v", file, err)
	}
	var vs []violation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("axe-core's result: %v", err)
	}
	for _, v := range vs {
		load.Impacts[v.Impact]++
		if v.Impact == "serious" || v.Impact == "critical" {
			s := fmt.Sprintf("%s (%s): %s", v.ID, v.Impact, v.Description)
			for i, n := range v.Nodes {
				if i == 3 {
					s += fmt.Sprintf("; and %d more", len(v.Nodes)-3)
					break
				}
				s += fmt.Sprintf("; %v %s", n.Target, n.HTML)
			}
			load.Violations = append(load.Violations, s)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return load
}

// smallPNG re-encodes a screenshot at the best compression (Chromium's
// encoder favours speed).
func smallPNG(t testing.TB, b []byte) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	var out bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	if out.Len() >= len(b) {
		return b
	}
	return out.Bytes()
}
