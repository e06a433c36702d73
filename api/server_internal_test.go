package api

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHostPlatform checks the defaults of the root's platform,
// platformVersion and updatedAt: read from the host and the executable.
func TestHostPlatform(t *testing.T) {
	platform, version := hostPlatform()
	want := map[string]string{"linux": "Linux", "darwin": "MacOSX", "windows": "Windows", "freebsd": "FreeBSD"}[runtime.GOOS]
	if want == "" {
		want = runtime.GOOS
	}
	if platform != want {
		t.Errorf("platform %q on %s, want %q", platform, runtime.GOOS, want)
	}
	if runtime.GOOS == "linux" {
		b, err := os.ReadFile("/proc/sys/kernel/osrelease")
		if err != nil {
			t.Skipf("no kernel release to compare with: %v", err)
		}
		if version == "" || version != strings.TrimSpace(string(b)) {
			t.Errorf("platformVersion %q, want the kernel release %q", version, strings.TrimSpace(string(b)))
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	if got := executableTime(); !got.Equal(fi.ModTime()) || got.Before(time.Unix(1, 0)) {
		t.Errorf("executableTime %v, want the test binary's %v", got, fi.ModTime())
	}
}
