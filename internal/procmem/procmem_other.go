//go:build !linux

package procmem

// ReleaseStartupPages pages out nothing here: see the Linux version.
func ReleaseStartupPages() (Release, error) { return Release{}, ErrUnsupported }
