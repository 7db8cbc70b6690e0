// Command gitops-health judges our objects the way GitOps tools do, with their own libraries:
// `kstatus` computes each object's status with sigs.k8s.io/cli-utils/pkg/kstatus (what Flux and
// `kubectl wait`-style tooling use), and `argocd SCRIPT` runs an Argo CD health script in
// gopher-lua, converting each object to Lua exactly as Argo CD does (maps become tables keyed by
// string, lists become tables indexed from 1). Both read a JSON list of objects (a `kubectl get -o
// json` List or a bare array) on stdin and print one JSON result per object.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kjson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: gitops-health kstatus | argocd SCRIPT.lua  (objects as JSON on stdin)")
	}
	objs, err := readObjects(os.Stdin)
	if err != nil {
		fail(err.Error())
	}
	var out []result
	switch os.Args[1] {
	case "kstatus":
		for _, o := range objs {
			u := &unstructured.Unstructured{Object: o}
			res, err := status.Compute(u)
			if err != nil {
				fail(fmt.Sprintf("kstatus on %s %s: %v", u.GetKind(), u.GetName(), err))
			}
			out = append(out, result{u.GetKind(), u.GetNamespace(), u.GetName(), res.Status.String(), res.Message})
		}
	case "argocd":
		if len(os.Args) < 3 {
			fail("argocd needs the health script's path")
		}
		script, err := os.ReadFile(os.Args[2])
		if err != nil {
			fail(err.Error())
		}
		for _, o := range objs {
			u := &unstructured.Unstructured{Object: o}
			st, msg, err := argoHealth(string(script), o)
			if err != nil {
				fail(fmt.Sprintf("health script on %s %s: %v", u.GetKind(), u.GetName(), err))
			}
			out = append(out, result{u.GetKind(), u.GetNamespace(), u.GetName(), st, msg})
		}
	default:
		fail("unknown command " + os.Args[1])
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail(err.Error())
	}
}

func readObjects(r io.Reader) ([]map[string]interface{}, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []map[string]interface{} `json:"items"`
	}
	// apimachinery's decoder keeps integers as int64, as the apiserver's clients see them.
	if err := kjson.Unmarshal(raw, &list); err == nil && list.Items != nil {
		return list.Items, nil
	}
	var arr []map[string]interface{}
	if err := kjson.Unmarshal(raw, &arr); err != nil {
		return nil, fmt.Errorf("stdin is neither a List nor an array of objects: %w", err)
	}
	return arr, nil
}

// argoHealth runs a health script as Argo CD does (util/lua in argo-cd): a state with the safe
// standard libraries, the object as the global `obj`, and a returned table {status, message}.
func argoHealth(script string, obj map[string]interface{}) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		l.Push(l.NewFunction(lib.fn))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the script returned %s, not a table", l.Get(-1).Type())
	}
	st := ret.RawGetString("status")
	msg := ret.RawGetString("message")
	valid := map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}
	if !valid[st.String()] {
		return "", "", fmt.Errorf("the script returned status %q, which Argo CD does not know", st.String())
	}
	m := ""
	if msg != lua.LNil {
		m = msg.String()
	}
	return st.String(), m, nil
}

func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch x := v.(type) {
	case map[string]interface{}:
		t := l.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(l, e))
		}
		return t
	case []interface{}:
		t := l.NewTable()
		for i, e := range x {
			t.RawSetInt(i+1, toLua(l, e))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	case nil:
		return lua.LNil
	default:
		return lua.LString(fmt.Sprint(x))
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "gitops-health: "+msg)
	os.Exit(2)
}
