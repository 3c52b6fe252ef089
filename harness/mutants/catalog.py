"""The built-in mutants of pymultus: data, one small source edit each.

Each :class:`~harness.mutants.model.Mutant` breaks one rule a conformance
suite must notice (the clause or reference behaviour is named in ``breaks``).
``find`` must occur exactly once in ``file`` (relative to the package
directory): after a refactoring of pymultus a mutant whose snippet no longer
matches is a kit error, never a pass. ``catches`` names the scenarios that
should fail against the mutant: ``harness mutants run`` tries them first
(and stops at the first failed expectation), and ``fast`` mutants run only
against them inside ``make test`` (tests/integration/test_mutants.py).

Keep every edit small and semantic (a condition, a value, a dropped call):
a mutant that cannot import, or that fails every call, says nothing about
the suite. The kit compiles each mutated copy and refuses syntax errors.
"""

from __future__ import annotations

from harness.mutants.model import Catalog, Mutant

MUTANTS: tuple[Mutant, ...] = (
    Mutant(
        id="no-rollback",
        description="a failed ADD leaves the attachments it made in place",
        breaks="npwg-7.2 (fail fast: a failed ADD removes what it made)",
        file="engine/commands.py",
        find="for index in range(len(attempted) - 1, -1, -1):",
        replace="for index in range(0):",
        catches=("add-failure-leaves-nothing.yaml",),
        fast=True,
    ),
    Mutant(
        id="no-network-status",
        description="the network-status annotation is never written",
        breaks="npwg-5 (network-status)",
        file="engine/publish.py",
        find=(
            "        if self.kube is None or pod_id is None or pod is None:\n"
            "            return\n"
            "        attached = ["
        ),
        replace="        if True:\n            return\n        attached = [",
        catches=("quickstart.yaml", "network-status-fields.yaml"),
        fast=True,
    ),
    Mutant(
        id="no-default-status-entry",
        description="network-status lists the extra attachments but not the default network",
        breaks="npwg-5.2 (the default network is reported too)",
        file="engine/publish.py",
        find="for d, r in zip(delegates, results, strict=True) if not d.auxiliary]",
        replace=(
            "for d, r in zip(delegates, results, strict=True)"
            " if not d.auxiliary and not d.is_default]"
        ),
        catches=("network-status-fields.yaml", "quickstart.yaml"),
    ),
    Mutant(
        id="status-default-false",
        description='every network-status entry says "default": false',
        breaks="npwg-5.3.5 (default: true on the default network)",
        file="engine/publish.py",
        find="            default=delegate.is_default,\n",
        replace="            default=False,\n",
        catches=("network-status-fields.yaml",),
    ),
    Mutant(
        id="net-numbering-off-by-one",
        description="extra interfaces are numbered from net2 instead of net1",
        breaks="multus-ifname-position (net<N>, N the delegate's position)",
        file="plan.py",
        find='            ifname = f"net{position}"\n',
        replace='            ifname = f"net{position + 1}"\n',
        catches=("quickstart.yaml", "annotation-comma-list.yaml"),
        fast=True,
    ),
    Mutant(
        id="ignored-at-ifname",
        description="the comma format's name@ifname is parsed and then ignored",
        breaks="npwg-4.1.2.1.5 / multus @ifname (the requested interface name)",
        file="model/selection.py",
        find="        interface=ifname,\n        raw=raw,\n",
        replace="        interface=None,\n        raw=raw,\n",
        catches=("annotation-at-ifname.yaml",),
    ),
    Mutant(
        id="ignored-interface-field",
        description='the JSON element\'s "interface" is ignored (net<N> is used)',
        breaks="npwg-4.1.2.1.5 (interface)",
        file="model/selection.py",
        find="        interface=_interface(element),\n",
        replace="        interface=_interface(element) and None,\n",
        catches=("annotation-json-list.yaml", "meta-cni-args.yaml"),
    ),
    Mutant(
        id="isolation-off",
        description="namespaceIsolation is never enforced",
        breaks="npwg-7.4 / multus namespaceIsolation",
        file="plan.py",
        find="    if not cfg.namespace_isolation:\n        return\n",
        replace="    if True:\n        return\n",
        catches=("namespace-isolation.yaml",),
        fast=True,
    ),
    Mutant(
        id="result-wrong-version",
        description="ADD answers the default network's result unconverted (1.0.0 to 0.3.1)",
        breaks="cni-add (SPEC section 4: the result in the caller's cniVersion)",
        file="engine/commands.py",
        find="convert_result(first, self.cfg.cni_version)",
        replace="first",
        catches=("meta-result-version.yaml", "meta-cni-version-old-caller.yaml"),
        fast=True,
    ),
    Mutant(
        id="del-skipped",
        description="DEL removes the cache but never calls the delegates",
        breaks="cni-del (DEL releases every attachment)",
        file="engine/commands.py",
        find="        engine.delete(request)\n",
        replace="        engine.cache.remove(request.container_id)\n",
        catches=("quickstart.yaml", "cni-del-twice.yaml"),
        fast=True,
    ),
    Mutant(
        id="del-forward-order",
        description="DEL runs the delegates in ADD order instead of reverse",
        breaks="npwg-7.2 / CNI SPEC section 3 (DEL in reverse order of ADD)",
        file="engine/commands.py",
        find=" in reversed(",
        replace=" in list(",
        catches=("serial-attachments.yaml",),
        fast=True,
    ),
    Mutant(
        id="ips-without-capability",
        description='"ips" is passed on although no plugin declares the ips capability',
        breaks="npwg-4.1.2.1.3 (ips needs the capability)",
        file="plan.py",
        find="        if capability not in declared:\n",
        replace='        if capability not in declared and capability != "ips":\n',
        catches=("ips-without-capability.yaml",),
    ),
    Mutant(
        id="mac-ignored",
        description='"mac" is dropped: never checked against capabilities, never passed on',
        breaks="npwg-4.1.2.1.4 (mac)",
        file="plan.py",
        find='    ("mac", "mac"),\n',
        replace="",
        catches=("ips-mac-with-capability.yaml", "mac-without-capability.yaml"),
    ),
    Mutant(
        id="default-route-ignored",
        description='"default-route" is parsed but not planned: no route moves, status unchanged',
        breaks="npwg-4.1.2.1 default-route",
        file="plan.py",
        find="default_route=selection.default_route if selection is not None else (),\n",
        replace="default_route=(),\n",
        catches=("meta-default-route.yaml",),
    ),
    Mutant(
        id="default-route-not-installed",
        description="network-status names the requested gateway but the kernel route is not set",
        breaks="npwg-4.1.2.1 default-route (the pod's route, not only the status)",
        file="engine/commands.py",
        find="            self.set_route(request.netns, family, ifname, gateway)\n",
        replace="            pass\n",
        catches=("meta-default-route.yaml",),
    ),
    Mutant(
        id="no-events",
        description="no AddedInterface events are posted",
        breaks="multus-events",
        file="engine/publish.py",
        find='            self.emit(pod, events.ADDED_INTERFACE, message, "Normal")\n',
        replace="            pass\n",
        catches=("meta-events.yaml",),
    ),
    Mutant(
        id="no-runtime-config",
        description="delegates never get runtimeConfig (capability args are dropped)",
        breaks="cni-capabilities (CONVENTIONS.md: runtimeConfig for declared capabilities)",
        file="cni/conflist.py",
        find='    if wanted:\n        existing = plugin.get("runtimeConfig")\n',
        replace='    if False:\n        existing = plugin.get("runtimeConfig")\n',
        catches=("port-mappings.yaml", "ips-mac-with-capability.yaml"),
        fast=True,
    ),
    Mutant(
        id="no-nad-name-injection",
        description="a NAD config without a name does not get the NAD's name",
        breaks="npwg-3.4.2 (name injection)",
        file="model/nad.py",
        find='    if not go_json_get(conf, "name"):\n        conf["name"] = name\n',
        replace='    if False:\n        conf["name"] = name\n',
        catches=("nad-name-injection.yaml", "meta-confdir.yaml"),
    ),
    Mutant(
        id="confdir-single-first",
        description="in confDir a single .conf wins over a .conflist of the same name",
        breaks="npwg-3.4.1 (a config list before a single config)",
        file="model/nad.py",
        find="    for path in lists + singles:\n",
        replace="    for path in singles + lists:\n",
        catches=("confdir-conflist-first.yaml",),
    ),
    Mutant(
        id="nad-twice-attached-once",
        description="a NAD listed twice in the annotation is attached once",
        breaks="npwg-4.1 (each element is its own attachment)",
        file="plan.py",
        find=(
            "            check_namespace_allowed(cfg, selection, pod_namespace)\n"
            "            refs.append(\n"
        ),
        replace=(
            "            check_namespace_allowed(cfg, selection, pod_namespace)\n"
            "            if any(r.key == selection.ref for r in refs):\n"
            "                continue\n"
            "            refs.append(\n"
        ),
        catches=("same-network-twice.yaml",),
    ),
    Mutant(
        id="cross-namespace-as-pod-namespace",
        description="namespace/name in the comma format is looked up in the pod's namespace",
        breaks="npwg-4.1.1 (namespace/name reference)",
        file="model/selection.py",
        find="        namespace=namespace_part if namespace_part is not None else pod_namespace,\n",
        replace="        namespace=pod_namespace,\n",
        catches=("cross-namespace-reference.yaml", "annotation-comma-list.yaml"),
    ),
    Mutant(
        id="json-namespace-ignored",
        description="the JSON element's \"namespace\" is ignored (the pod's namespace is used)",
        breaks="npwg-4.1.2.1.2 (namespace)",
        file="model/selection.py",
        find="        namespace=namespace or pod_namespace,\n",
        replace="        namespace=pod_namespace,\n",
        catches=("cross-namespace-reference.yaml", "annotation-json-list.yaml"),
    ),
    Mutant(
        id="every-error-999",
        description="every CNI error leaves with code 999",
        breaks="cni-errors (SPEC section 5: the error code says what went wrong)",
        file="cni/errors.py",
        find='{"cniVersion": cni_version, "code": self.code, "msg": self.msg}',
        replace='{"cniVersion": cni_version, "code": 999, "msg": self.msg}',
        catches=("cni-pod-uid.yaml", "fault-api-down-add.yaml"),
        fast=True,
    ),
    Mutant(
        id="check-checks-nothing",
        description="CHECK succeeds without looking at anything",
        breaks="cni-check (SPEC section 2: CHECK reports a broken attachment)",
        file="engine/commands.py",
        find=(
            '        if not at_least(self.cfg.cni_version, "0.4.0"):\n'
            "            raise CNIError(\n"
            "                INCOMPATIBLE_VERSION,\n"
            '                f"CHECK needs'
        ),
        replace=(
            "        return\n"
            '        if not at_least(self.cfg.cni_version, "0.4.0"):\n'
            "            raise CNIError(\n"
            "                INCOMPATIBLE_VERSION,\n"
            '                f"CHECK needs'
        ),
        catches=("cni-check.yaml",),
    ),
    # ---- beyond the list
    Mutant(
        id="cache-after-delegates",
        description="the delegate cache is written only after every delegate ran",
        breaks="multus-delegate-cache (DEL after a crash mid-ADD still knows the delegates)",
        file="engine/commands.py",
        find=(
            "        entry = self.cache_entry(request, pod_id, delegates)\n"
            "        self.cache.save(request.container_id, entry)\n"
        ),
        replace="        entry = self.cache_entry(request, pod_id, delegates)\n",
        catches=("crash-mid-add-del-from-cache.yaml",),
    ),
    Mutant(
        id="del-without-prev-result",
        description="DEL never passes the cached ADD result as prevResult",
        breaks="cni-del (SPEC section 3: prevResult on DEL from 0.4.0)",
        file="cni/conflist.py",
        find='prev = _prev_for_list(ncl, prev_result) if at_least(ncl.cni_version, "0.4.0")',
        replace="prev = None if True",
        catches=("del-prev-result.yaml",),
    ),
    Mutant(
        id="cni-args-not-merged",
        description='the element\'s "cni-args" never reach args.cni',
        breaks="npwg-4.1.2.1 cni-args",
        file="plan.py",
        find="if cni_args:\n                delegate_conf = with_cni_args(",
        replace="if False:\n                delegate_conf = with_cni_args(",
        catches=("cni-args.yaml", "meta-cni-args.yaml"),
    ),
    Mutant(
        id="default-networks-nowhere",
        description="defaultNetworks are skipped in every namespace, not only systemNamespaces",
        breaks="multus-default-networks",
        file="plan.py",
        find="    if pod_namespace not in cfg.system_namespaces:\n",
        replace="    if False:\n",
        catches=("default-networks-system-namespaces.yaml",),
    ),
    Mutant(
        id="del-fails-without-cache",
        description="DEL with neither cache nor API fails instead of succeeding",
        breaks="cni-del-idempotent (DEL succeeds when nothing is known to clean)",
        file="engine/commands.py",
        find='nothing to clean"\n                )\n',
        replace='nothing to clean"\n                )\n                raise\n',
        catches=("del-no-cache-no-api.yaml",),
    ),
    Mutant(
        id="pod-uid-ignored",
        description="ADD for a sandbox of an older pod with the same name is not refused",
        breaks="multus-pod-uid",
        file="engine/resolve.py",
        find="        if pod_id.uid and uid and uid != pod_id.uid and not is_static_pod(pod):\n",
        replace="        if False:\n",
        catches=("cni-pod-uid.yaml",),
    ),
    Mutant(
        id="readiness-ignored",
        description="ADD does not wait for readinessindicatorfile",
        breaks="npwg-6.1 (the default network is ready first) / multus readinessindicatorfile",
        file="engine/resolve.py",
        find=(
            "        if not path:\n"
            "            return\n"
            "        deadline = self.monotonic() + READINESS_TIMEOUT\n"
        ),
        replace=(
            "        if True:\n"
            "            return\n"
            "        deadline = self.monotonic() + READINESS_TIMEOUT\n"
        ),
        catches=("readiness-indicator.yaml",),
    ),
    Mutant(
        id="auxiliary-chain-skipped",
        description="auxiliaryCNIChainName is never run",
        breaks="multus auxiliaryCNIChainName",
        file="engine/resolve.py",
        find="        name = self.cfg.auxiliary_cni_chain_name\n        if not name:\n",
        replace="        name = self.cfg.auxiliary_cni_chain_name\n        if True:\n",
        catches=("meta-auxiliary-chain.yaml",),
    ),
    Mutant(
        id="status-dns-dropped",
        description="network-status never carries the delegate's dns",
        breaks="npwg-5.3.6 (dns)",
        file="model/status.py",
        find='    dns = result.get("dns")\n    if not isinstance(dns, Mapping):\n',
        replace="    dns = None\n    if not isinstance(dns, Mapping):\n",
        catches=("meta-network-status-fields.yaml",),
    ),
)

CATALOG = Catalog(
    package="pymultus",
    entry="pymultus.thin:main",
    binary="pymultus",
    mutants=MUTANTS,
)
