package configs

import (
	"reflect"
	"sort"
)

// RestartOnly lists the keys (dotted YAML paths) tagged reload:"restart"
// whose values differ between running and next: what a reload to next
// leaves unapplied until the edge restarts.
func RestartOnly(running, next *Config) []string {
	var keys []string
	restartDiff(reflect.ValueOf(running).Elem(), reflect.ValueOf(next).Elem(), "", false, &keys)
	sort.Strings(keys)
	return keys
}

func restartDiff(a, b reflect.Value, prefix string, restart bool, out *[]string) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if prefix != "" {
			key = prefix + "." + key
		}
		fixed := restart || f.Tag.Get("reload") == "restart"
		fa, fb := a.Field(i), b.Field(i)
		switch {
		case fa.Kind() == reflect.Struct:
			restartDiff(fa, fb, key, fixed, out)
		case fixed && !reflect.DeepEqual(fa.Interface(), fb.Interface()):
			*out = append(*out, key)
		}
	}
}
