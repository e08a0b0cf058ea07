package facts

import "fmt"

// BytesIEC writes a byte count for people, in binary units with one decimal:
// 512 B, 1.5 KiB, 4.0 MiB. It takes the sizes of the snapshot (int64) and of
// a zip's entries (uint64) as they are; a negative count is written as is
// ("-1 B").
func BytesIEC[N ~int | ~int64 | ~uint64](n N) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := N(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
