package jmap

import (
	"encoding/json"
	"testing"
)

// FuzzRequest feeds arbitrary bodies to the request parser and resolves
// every call's result references against earlier responses: no input may
// panic, and a parsed request always has its calls' three parts.
func FuzzRequest(f *testing.F) {
	f.Add([]byte(`{"using":["urn:ietf:params:jmap:core"],"methodCalls":[["Core/echo",{"a":1},"c1"]]}`))
	f.Add([]byte(`{"using":[],"methodCalls":[["Mailbox/query",{},"q"],["Mailbox/get",{"#ids":{"resultOf":"q","name":"Mailbox/query","path":"/ids"}},"g"]]}`))
	f.Add([]byte(`{"using":[],"methodCalls":[["X",{"#a":{"resultOf":"c","name":"X","path":"/list/*/id"}},"d"]],"createdIds":{"k":"v"}}`))
	f.Add([]byte(`{"using":"x"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, p := ParseRequest(body)
		if p != nil {
			if p.Status != 400 || p.Type == "" {
				t.Fatalf("problem without type or status: %+v", p)
			}
			return
		}
		var done []response
		for _, inv := range req.MethodCalls {
			if inv.Args == nil {
				t.Fatal("nil arguments")
			}
			args := map[string]json.RawMessage{}
			for k, v := range inv.Args {
				args[k] = v
			}
			resolveReferences(args, done)
			var echo map[string]any
			b, _ := json.Marshal(args)
			json.Unmarshal(b, &echo)
			done = append(done, response{Name: inv.Name, Args: map[string]any{"list": []any{echo, map[string]any{"id": "x"}}, "ids": []any{"a", "b"}}, CallID: inv.CallID})
		}
	})
}
