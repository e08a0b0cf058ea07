package report

import (
	"reflect"
	"testing"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/policy"
)

func TestChanges(t *testing.T) {
	prevRep := &Report{Findings: []checks.Finding{
		{ID: "a", Status: checks.Pass}, {ID: "b", Module: "m", Status: checks.Fail}, {ID: "gone", Status: checks.Fail}}}
	cur := &Report{Findings: []checks.Finding{
		{ID: "a", Status: checks.Fail, Severity: policy.Critical, Message: "now failing"},
		{ID: "b", Module: "m", Status: checks.Fail}, {ID: "new", Status: checks.Pass}}}
	if got := Changes(nil, cur); got != nil {
		t.Errorf("no baseline must give no changes, got %v", got)
	}
	got := Changes(Statuses(prevRep), cur)
	want := []Change{
		{ID: "a", Severity: "critical", From: "pass", To: "fail", Message: "now failing"},
		{ID: "new", From: "", To: "pass"},
		{ID: "gone", From: "fail", To: "", Message: "the finding is no longer reported"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Changes =\n%+v\nwant\n%+v", got, want)
	}
}
