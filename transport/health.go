package transport

// HealthPath is the liveness endpoint every listener serves: the HTTP/3
// data plane here and the admin listener (transport/admin), with the same
// body and no credentials.
const HealthPath = "/healthz"

// Health is the body of GET /healthz on every listener, for clients that
// decode it. Status is HealthOK while the process answers requests at
// all; /healthz says nothing about readiness, which is the admin
// listener's /readyz.
type Health struct {
	Status string `json:"status"`
}

// HealthOK is Health.Status of a live process.
const HealthOK = "ok"

// HealthJSON returns the /healthz body, {"status":"ok"}: the one place it
// is produced, so that both listeners answer byte for byte the same.
func HealthJSON() []byte { return []byte(`{"status":"` + HealthOK + `"}`) }
