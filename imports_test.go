package butler_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/plexbutler/butler"

// adapters implement the domain's interfaces or serve it; none may import
// another (cmd/butler wires them).
var adapters = []string{"api", "client", "engine", "metrics", "store/postgres", "store/sqlite", "tasks"}

// libraries are the media library's building blocks, which adapters use:
// of this module they import the domain, each other and mediaTool (the
// runner of FFmpeg's programs) only.
var libraries = []string{"bif", "imagehash", "loudness", "markers", "mediaframes", "mediaprobe", "mediascan"}

// mediaTool runs FFmpeg's programs for the libraries.
const mediaTool = "internal/mediatool"

// procWatch carries the group guard to the programs a context's work
// starts (mediatool's among them); a leaf of the standard library.
const procWatch = "internal/procwatch"

// procGroup ends what a program left in its process group (for tasks and
// mediatool); a leaf of the standard library.
const procGroup = "internal/procgroup"

// listedPackage is what go list says of a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	Name       string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to list the packages")
	}
	out, err := exec.Command(goTool, "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestImportRules holds the layering docs/architecture.md states: the
// domain imports no adapter, adapters do not import each other, and the
// wire types, the scheduling maths and the SDK stay small.
func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		self := rel(p.ImportPath)
		for _, imp := range p.Imports {
			own := strings.HasPrefix(imp, module+"/") || imp == module
			dep := rel(imp)
			switch {
			case self == "." && own && slices.Contains(adapters, dep):
				t.Errorf("the domain (root package) imports the adapter %s", dep)
			case slices.Contains(adapters, self) && own && slices.Contains(adapters, dep):
				t.Errorf("adapter %s imports adapter %s; adapters never import each other, cmd/butler wires them", self, dep)
			case (self == "schedule" || self == "apitype") && !isStd(imp):
				t.Errorf("%s imports %s; it takes the standard library only", self, imp)
			case self == "client" && !isStd(imp) && imp != module+"/apitype":
				t.Errorf("client imports %s; the SDK takes the standard library and apitype only", imp)
			case slices.Contains(libraries, self) && own && imp != module && dep != mediaTool && !slices.Contains(libraries, dep):
				t.Errorf("%s imports %s; of this module it takes the domain, the other media libraries and %s only", self, imp, mediaTool)
			case self == mediaTool && own && dep != procWatch && dep != procGroup:
				t.Errorf("%s imports %s; of this module it takes %s and %s only", self, imp, procWatch, procGroup)
			case (self == procWatch || self == procGroup) && !isStd(imp):
				t.Errorf("%s imports %s; it takes the standard library only", self, imp)
			}
		}
	}
}

// isStd reports whether an import path is the standard library's.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// TestPackageDocs: every package says what it is.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		found := false
		for _, f := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("package %s has no package comment", rel(p.ImportPath))
		}
	}
}
