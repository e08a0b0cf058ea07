// Package procmem gives back to the kernel the memory a long-running
// process only needed to start.
//
// A Go binary's package initialisation runs once, at start, and touches
// code and read-only data that the process never uses again (for
// edge-readiness most of it is cel-go's and protobuf's, linked for user
// rules whether or not a policy has any). Those pages are clean and backed
// by the executable's file, yet they stay resident, and count in the
// module's RSS and in its container's memory, until the kernel needs the
// memory. ReleaseStartupPages pages them out once the process is warm: the
// pages it still uses come back on their next use, once; the others stay on
// disk.
package procmem

import "errors"

// ErrUnsupported says the kernel cannot page out on request (Linux before
// 5.4, or another system). Nothing was changed; the process works as
// before, with a larger resident set.
var ErrUnsupported = errors.New("procmem: paging out on request is not supported here (needs Linux 5.4 or later)")

// Release is what ReleaseStartupPages did.
type Release struct {
	// Mappings is how many of the executable's read-only mappings were
	// paged out.
	Mappings int
	// ResidentBefore and ResidentAfter are their resident sizes in bytes,
	// before and after.
	ResidentBefore, ResidentAfter int64
}
