package butler_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/plexbutler/butler"
	"github.com/plexbutler/butler/apitype"
)

// TestTaskNamesOneList: apitype holds the one list of task names; the root
// package and the SDK name every constant of it, each as apitype's own (no
// copied value), and nothing else.
func TestTaskNamesOneList(t *testing.T) {
	var want []string
	for _, n := range apitype.TaskNames() {
		want = append(want, "Task"+string(n))
	}
	if len(want) != 26 {
		t.Fatalf("apitype.TaskNames lists %d names, want 26", len(want))
	}
	for _, path := range []string{"task.go", "client/tasks.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				name := vs.Names[0].Name
				if !strings.HasPrefix(name, "Task") {
					continue
				}
				got = append(got, name)
				sel, ok := vs.Values[0].(*ast.SelectorExpr)
				if x, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || x.Name != "apitype" || sel.Sel.Name != name {
					t.Errorf("%s: %s is not apitype.%s", path, name, name)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s names %v; want apitype's %v", path, got, want)
		}
	}
}

func TestEnableSetting(t *testing.T) {
	for name, want := range map[butler.TaskName]string{
		butler.TaskBackupDatabase:                 "ButlerTaskBackupDatabase",
		butler.TaskButlerTaskGenerateIntroMarkers: "ButlerTaskGenerateIntroMarkers",
		"MyTask":     "ButlerTaskMyTask",
		"ButlerTask": "ButlerTaskButlerTask",
	} {
		if got := butler.EnableSetting(name); got != want {
			t.Errorf("EnableSetting(%q) = %q, want %q", name, got, want)
		}
	}
	for _, task := range butler.DefaultCatalog() {
		if task.Setting != butler.EnableSetting(task.Name) {
			t.Errorf("%s: setting %s, want %s", task.Name, task.Setting, butler.EnableSetting(task.Name))
		}
	}
}
