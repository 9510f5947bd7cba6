// Package bridge maps h2sm events onto net/http: it builds *http.Request
// values from request events, runs http.Handlers in goroutines with a
// bounded number in flight, and implements http.ResponseWriter on top of the
// core's commands. It knows nothing of sockets: a Driver gives it exclusive
// access to the h2sm.Conn, so that both the net.Conn adapter and the event
// loop adapter can use it.
package bridge
