package main

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// tidy turns a library's statistics into the JSON the page shows: the
// packages' Stats structs use Go names (WaitDuration, PingRTTAvg) and
// time.Duration, which encodes as nanoseconds, next to the demos' own
// snake_case keys. tidy renames every field to snake_case (a json tag
// wins), renders durations in milliseconds under a name ending in _ms
// (WaitDuration → wait_ms, PingRTTAvg → ping_rtt_avg_ms) and flattens
// embedded structs, so every name on the page reads the same way and
// carries its unit.
func tidy(v any) any {
	if v == nil {
		return nil
	}
	return tidyValue(reflect.ValueOf(v))
}

var (
	durationType      = reflect.TypeFor[time.Duration]()
	timeType          = reflect.TypeFor[time.Time]()
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

func tidyValue(v reflect.Value) any {
	switch {
	case !v.IsValid():
		return nil
	case v.Type() == durationType:
		return durationMS(time.Duration(v.Int()))
	case v.Type() == timeType:
		t := v.Interface().(time.Time)
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339Nano)
	case v.Type() == rawMessageType:
		return v.Interface()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return tidyValue(v.Elem())
	case reflect.Struct:
		out := map[string]any{}
		tidyStruct(v, out)
		return out
	case reflect.Map:
		if v.IsNil() {
			return map[string]any{}
		}
		out := make(map[string]any, v.Len())
		for it := v.MapRange(); it.Next(); {
			name := mapKey(it.Key())
			val := it.Value()
			if val.Kind() == reflect.Interface && !val.IsNil() {
				val = val.Elem()
			}
			if val.IsValid() && val.Type() == durationType {
				name = durationName(name)
			}
			out[name] = tidyValue(val)
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = tidyValue(v.Index(i))
		}
		return out
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil // JSON has no NaN
		}
		return f
	}
	return v.Interface()
}

// tidyStruct adds v's exported fields to out, flattening embedded structs.
func tidyStruct(v reflect.Value, out map[string]any) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous { // an embedded unexported struct's exported fields are promoted
			continue
		}
		fv := v.Field(i)
		name := f.Name
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if f.Anonymous && tag == "" {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if fv.Kind() == reflect.Struct && fv.Type() != timeType {
				tidyStruct(fv, out)
				continue
			}
		}
		if tag != "" {
			name = tag
		} else {
			name = snakeCase(name)
		}
		if f.Type == durationType {
			name = durationName(name)
		}
		out[name] = tidyValue(fv)
	}
}

// durationName gives a duration's key its unit: wait_duration → wait_ms,
// ping_rtt_avg → ping_rtt_avg_ms.
func durationName(name string) string {
	name = strings.TrimSuffix(name, "_duration")
	if strings.HasSuffix(name, "_ms") {
		return name
	}
	return name + "_ms"
}

func durationMS(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func mapKey(k reflect.Value) string {
	if k.Type().Implements(textMarshalerType) {
		if b, err := k.Interface().(encoding.TextMarshaler).MarshalText(); err == nil {
			return snakeCase(string(b))
		}
	}
	if k.Kind() == reflect.String {
		return snakeCase(k.String())
	}
	return snakeCase(fmt.Sprint(k.Interface()))
}

// snakeCase converts a Go name: ConnsAccepted → conns_accepted,
// PingRTTAvg → ping_rtt_avg, HTTP1 → http1, QueueDepthP50 →
// queue_depth_p50, slow-consumer → slow_consumer.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		if r == ' ' || r == '-' {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}
