// Package benchmachine describes the machine a benchmark program ran on,
// and holds the few system calls the benchmark programs share (free space,
// the load average, dropping the page cache), so that every BENCHMARKS.md
// section says the same things the same way.
package benchmachine

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// Machine is what a report says about the machine and its tools.
type Machine struct {
	CPU       string // the model name in /proc/cpuinfo
	NProc     int
	Memory    string // MemTotal, in GiB
	Kernel    string // "Linux " and the release
	GoVersion string // what `go version` prints
	Commit    string // git describe --always --dirty of the working tree
}

// Describe reads the machine. What cannot be read is "unknown".
func Describe() Machine {
	m := Machine{CPU: "unknown", NProc: runtime.NumCPU(), Memory: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if k := FirstLine(os.ReadFile("/proc/sys/kernel/osrelease")); k != "" {
		m.Kernel = "Linux " + k
	}
	m.GoVersion = FirstLine(exec.Command("go", "version").Output())
	if m.GoVersion == "" {
		m.GoVersion = runtime.Version() + " (the go command did not answer; this is the version the program was built with)"
	}
	m.Commit = FirstLine(exec.Command("git", "describe", "--always", "--dirty", "--abbrev=7").Output())
	if m.Commit == "" {
		m.Commit = "unknown"
	}
	return m
}

// Rows returns the Markdown table rows of the machine (CPU, nproc, memory,
// kernel, Go), for a two-column table a report has opened.
func (m Machine) Rows() string {
	return fmt.Sprintf("| CPU (`/proc/cpuinfo`) | %s |\n| `nproc` | %d |\n| memory | %s |\n| kernel | %s |\n| `go version` | %s |\n",
		m.CPU, m.NProc, m.Memory, m.Kernel, m.GoVersion)
}

// LoadAverage returns the 1, 5 and 15 minute load averages, or "unknown".
func LoadAverage() string {
	f := strings.Fields(FirstLine(os.ReadFile("/proc/loadavg")))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// FreeSpace returns the bytes available to this user on dir's file system
// and the file system's name.
func FreeSpace(dir string) (int64, string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, "", err
	}
	names := map[int64]string{0xef53: "ext4", 0x58465342: "xfs", 0x9123683e: "btrfs", 0x01021994: "tmpfs", 0x794c7630: "overlayfs", 0x2fc12fc1: "zfs"}
	name := names[int64(st.Type)]
	if name == "" {
		name = fmt.Sprintf("type %#x", st.Type)
	}
	return int64(st.Bavail) * int64(st.Bsize), name, nil
}

// DropCaches writes out dirty pages and drops the page cache, dentries and
// inodes; it reports whether the kernel accepted the drop (root only).
func DropCaches() bool {
	syscall.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0o200) == nil
}

// FirstLine returns the first line of a command's output or a file, trimmed;
// "" when err is not nil.
func FirstLine(b []byte, err error) string {
	if err != nil {
		return ""
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return strings.TrimSpace(l)
}
