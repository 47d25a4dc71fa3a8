//! Which pod and container a process runs in, from its cgroup (`/proc/<pid>/cgroup`):
//! the kubelet puts every container in a cgroup named after its pod's uid and the
//! container's id, with either cgroup driver:
//! - systemd: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`
//! - cgroupfs: `/kubepods/burstable/pod<uid>/<id>`

use std::path::Path;

/// A process's pod uid and container id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainer {
    pub pod_uid: String,
    pub container_id: String,
}

/// Reads `<proc_dir>/<pid>/cgroup`; `None` for a process outside a pod (or gone).
pub fn of_pid(proc_dir: &Path, pid: u32) -> Option<PodContainer> {
    let text = std::fs::read_to_string(proc_dir.join(pid.to_string()).join("cgroup")).ok()?;
    text.lines().find_map(parse_line)
}

/// One line of a cgroup file (`hierarchy:controllers:path`, v1 or v2).
pub fn parse_line(line: &str) -> Option<PodContainer> {
    let path = line.splitn(3, ':').nth(2)?;
    if !path.contains("kubepods") {
        return None;
    }
    let mut segments = path.trim_end_matches('/').split('/').rev();
    let container = segments.next()?;
    let pod = segments.next()?;
    let container_id = container
        .trim_end_matches(".scope")
        .rsplit('-')
        .next()
        .filter(|id| id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit()))?
        .to_string();
    let pod = pod.trim_end_matches(".slice");
    let uid = pod.rsplit_once("pod").map(|(_, uid)| uid)?;
    // systemd writes the uid's dashes as underscores.
    let pod_uid = uid.replace('_', "-");
    (pod_uid.len() == 36).then_some(PodContainer {
        pod_uid,
        container_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_cgroup_drivers_and_cgroup_v1() {
        let id = "4f1c3e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
        let want = Some(PodContainer {
            pod_uid: "0ab1c2d3-e4f5-6789-abcd-ef0123456789".into(),
            container_id: id.into(),
        });
        for line in [
            format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0ab1c2d3_e4f5_6789_abcd_ef0123456789.slice/cri-containerd-{id}.scope"),
            format!("0::/kubepods.slice/kubepods-pod0ab1c2d3_e4f5_6789_abcd_ef0123456789.slice/crio-{id}.scope"),
            format!("0::/kubepods/besteffort/pod0ab1c2d3-e4f5-6789-abcd-ef0123456789/{id}"),
            format!("11:memory:/kubepods/burstable/pod0ab1c2d3-e4f5-6789-abcd-ef0123456789/{id}"),
        ] {
            assert_eq!(parse_line(&line), want, "{line}");
        }
        assert_eq!(
            parse_line("0::/user.slice/user-1000.slice/session-3.scope"),
            None
        );
        assert_eq!(
            parse_line("0::/kubepods.slice/kubepods-burstable.slice"),
            None
        );
    }

    #[test]
    fn reads_a_processes_cgroup_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_dir = dir.path().join("4242");
        std::fs::create_dir_all(&pid_dir).expect("dir");
        std::fs::write(
            pid_dir.join("cgroup"),
            "0::/kubepods/burstable/pod0ab1c2d3-e4f5-6789-abcd-ef0123456789/aaaaaaaaaaaaaaaa\n",
        )
        .expect("write");
        assert_eq!(
            of_pid(dir.path(), 4242).map(|p| p.container_id),
            Some("aaaaaaaaaaaaaaaa".into())
        );
        assert_eq!(of_pid(dir.path(), 1), None, "no such process");
    }
}
