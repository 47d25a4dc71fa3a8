//! A real Kubernetes control plane for tests: `kube-apiserver` (built by `scripts/peers.sh`
//! from the pinned `k8s.io/kubernetes` module) on loopback, storing in a real etcd
//! (embedded in a small Go program), with RBAC on, a static admin token and service
//! account tokens. No kubelet and no controllers run: tests write pods, their status and
//! their owners through the API themselves, as a kubelet and the controllers would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use llamacol_pipeline::testing::{external_program, free_port};
use serde_json::{json, Value};

use super::process::Running;

/// The static token of a `system:masters` user (the tests' own kubectl).
pub const ADMIN_TOKEN: &str = "llamacol-test-admin-token";

pub struct ApiServer {
    _etcd: Running,
    apiserver: Option<Running>,
    pub port: u16,
    etcd_port: u16,
    dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

impl ApiServer {
    /// etcd, then kube-apiserver; returns once `/readyz` passes (RBAC's default roles are
    /// in place by then).
    pub fn start() -> ApiServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let (etcd_port, peer_port) = (free_port(), free_port());
        let etcd = Running::spawn(
            "etcd",
            Command::new(external_program("etcd")).args([
                dir.path().join("etcd").display().to_string(),
                format!("http://127.0.0.1:{etcd_port}"),
                format!("http://127.0.0.1:{peer_port}"),
            ]),
            dir.path().join("etcd.log"),
        );
        std::fs::write(
            dir.path().join("tokens.csv"),
            format!("{ADMIN_TOKEN},test-admin,test-admin-uid,\"system:masters\"\n"),
        )
        .expect("tokens");
        // The service account signing key (ECDSA P-256, which kube-apiserver accepts).
        let key = rcgen::KeyPair::generate().expect("key");
        std::fs::write(dir.path().join("sa.key"), key.serialize_pem()).expect("sa key");
        std::fs::write(dir.path().join("sa.pub"), key.public_key_pem()).expect("sa public key");
        let mut server = ApiServer {
            _etcd: etcd,
            apiserver: None,
            port: free_port(),
            etcd_port,
            dir,
            http: reqwest::blocking::Client::builder()
                .danger_accept_invalid_certs(true)
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        server.spawn_apiserver();
        server
    }

    fn spawn_apiserver(&mut self) {
        let dir = self.dir.path();
        let path = |name: &str| dir.join(name).display().to_string();
        let process = Running::spawn(
            "kube-apiserver",
            Command::new(external_program("kube-apiserver")).args([
                format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port),
                format!("--secure-port={}", self.port),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                // No controller runs to keep a loopback endpoint for `kubernetes`.
                "--endpoint-reconciler-type=none".into(),
                format!("--cert-dir={}", path("certs")),
                format!("--token-auth-file={}", path("tokens.csv")),
                "--authorization-mode=RBAC".into(),
                "--service-account-issuer=https://kubernetes.default.svc".into(),
                format!("--service-account-key-file={}", path("sa.pub")),
                format!("--service-account-signing-key-file={}", path("sa.key")),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                // No controller creates each namespace's `default` service account.
                "--disable-admission-plugins=ServiceAccount".into(),
            ]),
            dir.join("apiserver.log"),
        );
        self.apiserver = Some(process);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(p) = self.apiserver.as_mut() {
                p.assert_running();
            }
            if self.get("/readyz").0 == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready in 90s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the API server (SIGKILL) and starts it again on the same port and etcd.
    pub fn restart(&mut self, down_for: Duration) {
        if let Some(mut p) = self.apiserver.take() {
            p.kill();
        }
        std::thread::sleep(down_for);
        self.spawn_apiserver();
    }

    pub fn log(&self) -> String {
        self.apiserver
            .as_ref()
            .map(Running::log)
            .unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The serving certificate bundle kube-apiserver made for itself (its CA included).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/apiserver.crt")
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, Value::Null)
    }

    /// One request as the admin; returns the status and the JSON answer.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}{path}", self.url()),
            )
            .bearer_auth(ADMIN_TOKEN);
        if !body.is_null() {
            request = request
                .header("Content-Type", content_type.unwrap_or("application/json"))
                .body(body.to_string());
        }
        match request.send() {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// POSTs `object` to `path`; panics unless it was created.
    pub fn create(&self, path: &str, object: Value) -> Value {
        let (status, answer) = self.send("POST", path, None, object);
        assert_eq!(status, 201, "POST {path}: {answer}");
        answer
    }

    /// Merge-patches `path` (an object or its `/status`).
    pub fn patch(&self, path: &str, patch: Value) -> Value {
        let (status, answer) =
            self.send("PATCH", path, Some("application/merge-patch+json"), patch);
        assert_eq!(status, 200, "PATCH {path}: {answer}");
        answer
    }

    /// Server-side apply of one manifest (what `kubectl apply --server-side` sends);
    /// namespaced objects without a namespace go to `namespace`. Returns the status and
    /// the answer.
    pub fn apply(&self, doc: &Value, namespace: &str) -> (u16, Value) {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        let base = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let (status, resources) = self.get(&base);
        if status != 200 {
            return (status, resources);
        }
        let Some(resource) = resources["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["kind"] == kind && !r["name"].as_str().unwrap_or_default().contains('/'))
        else {
            return (
                404,
                json!(format!(
                    "the API server serves no kind {kind} in {api_version}"
                )),
            );
        };
        let plural = resource["name"].as_str().unwrap_or_default();
        let path = if resource["namespaced"].as_bool() == Some(true) {
            let ns = doc["metadata"]["namespace"].as_str().unwrap_or(namespace);
            format!("{base}/namespaces/{ns}/{plural}/{name}")
        } else {
            format!("{base}/{plural}/{name}")
        };
        self.send(
            "PATCH",
            &format!("{path}?fieldManager=llamacol-test&force=true"),
            Some("application/apply-patch+yaml"),
            doc.clone(),
        )
    }

    /// A token for service account `namespace/name` (the TokenRequest API a kubelet
    /// uses for projected tokens).
    pub fn token_for(&self, namespace: &str, name: &str) -> String {
        let answer = self.create(
            &format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"),
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"expirationSeconds": 3600}}),
        );
        answer["status"]["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// A kubeconfig for `token` at `path`, trusting the server's own certificate.
    pub fn write_kubeconfig(&self, path: &Path, token: &str) {
        std::fs::write(
            path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: test\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context: {{cluster: test, user: test}}\n",
                self.url(),
                self.ca().display()
            ),
        )
        .expect("kubeconfig");
    }

    pub fn namespace(&self, name: &str, labels: Value) {
        self.create(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
        );
    }

    /// A Deployment `name` of `replicas` pods running `image`, and the ReplicaSet its
    /// controller would make for it (`<name>-<hash>`); returns that ReplicaSet, to own pods.
    pub fn deployment(
        &self,
        namespace: &str,
        name: &str,
        hash: &str,
        image: &str,
        replicas: u32,
    ) -> Value {
        let template = json!({"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "server", "image": image}]}});
        let spec = json!({"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template});
        let deployment = self.create(
            &format!("/apis/apps/v1/namespaces/{namespace}/deployments"),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}),
        );
        let mut replicaset = self.create(
            &format!("/apis/apps/v1/namespaces/{namespace}/replicasets"),
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": format!("{name}-{hash}"), "ownerReferences": [{
                       "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                       "uid": deployment["metadata"]["uid"], "controller": true}]},
                   "spec": spec}),
        );
        // The answer of a create leaves out the type fields; owner references need them.
        replicaset["apiVersion"] = json!("apps/v1");
        replicaset["kind"] = json!("ReplicaSet");
        replicaset
    }

    /// A pod as a ReplicaSet's controller creates it, scheduled on `node`, and the status a
    /// kubelet would write once it runs (`ip`, one container started `restarts` times).
    pub fn running_pod(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
        ip: &str,
        owner: Option<&Value>,
        labels: Value,
    ) -> Value {
        let mut metadata = json!({"name": name, "labels": labels});
        if let Some(owner) = owner {
            // The ReplicaSet controller labels its pods with the template's hash, the
            // last part of the ReplicaSet's name.
            let replicaset = owner["metadata"]["name"].as_str().unwrap_or_default();
            if owner["kind"] == "ReplicaSet" {
                if let Some((_, hash)) = replicaset.rsplit_once('-') {
                    metadata["labels"]["pod-template-hash"] = json!(hash);
                }
            }
            metadata["ownerReferences"] = json!([{
                "apiVersion": owner["apiVersion"], "kind": owner["kind"],
                "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                "controller": true, "blockOwnerDeletion": true
            }]);
        }
        let image = "ghcr.io/ggml-org/llama.cpp:server-cuda-b4719";
        self.create(
            &format!("/api/v1/namespaces/{namespace}/pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                   "spec": {"nodeName": node, "containers": [{"name": "server", "image": image}]}}),
        );
        let id = format!("containerd://{:064x}", name.len() * 7919 + ip.len());
        self.patch(
            &format!("/api/v1/namespaces/{namespace}/pods/{name}/status"),
            json!({"status": {
                "phase": "Running",
                "podIP": ip, "podIPs": [{"ip": ip}],
                "hostIP": "192.168.10.5", "hostIPs": [{"ip": "192.168.10.5"}],
                "startTime": "2026-12-07T10:00:00Z",
                "containerStatuses": [{
                    "name": "server", "ready": true, "restartCount": 0, "started": true,
                    "image": image, "imageID": format!("{image}@sha256:{:064x}", 1),
                    "containerID": id,
                    "state": {"running": {"startedAt": "2026-12-07T10:00:02Z"}}
                }]
            }}),
        )
    }
}
