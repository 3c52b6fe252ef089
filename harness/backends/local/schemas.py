# ruff: noqa: E501  (a catalogue of descriptions: one field per line reads best)
"""OpenAPI schemas of the built-in kinds we serve, for /openapi/v2, /openapi/v3 and
server-side field validation.

Names and shapes follow the real API's definitions (``io.k8s.api.core.v1.Pod``,
field names and types of the core/v1, apps/v1, rbac/v1, coordination/v1
types). Only the fields harness users meet are described; a type described
in part carries ``x-kubernetes-preserve-unknown-fields`` so that strict
field validation never rejects a real field we did not list, while a type
described in full (ObjectMeta, the top level of every kind, ConfigMap, ...)
rejects unknown fields as the real server does.
"""

from __future__ import annotations

from typing import Any

from harness.backends.local.resources import (
    CLUSTERROLEBINDINGS,
    CLUSTERROLES,
    CONFIGMAPS,
    CRDS,
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINTS,
    EVENTS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    REPLICASETS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SELFSUBJECTACCESSREVIEWS,
    SELFSUBJECTRULESREVIEWS,
    SERVICEACCOUNTS,
    SERVICES,
    ResourceType,
)

Schema = dict[str, Any]
PRESERVE = "x-kubernetes-preserve-unknown-fields"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
CORE = "io.k8s.api.core.v1."


def string(desc: str, **kw: Any) -> Schema:
    return {"type": "string", "description": desc, **kw}


def integer(desc: str, fmt: str = "int32") -> Schema:
    return {"type": "integer", "format": fmt, "description": desc}


def boolean(desc: str) -> Schema:
    return {"type": "boolean", "description": desc}


def ref(name: str, desc: str = "") -> Schema:
    out: Schema = {"$ref": f"#/components/schemas/{name}"}
    if desc:
        out["description"] = desc
    return out


def array(items: Schema, desc: str, merge_key: str | None = None) -> Schema:
    out: Schema = {"type": "array", "items": items, "description": desc}
    if merge_key:
        out["x-kubernetes-patch-merge-key"] = merge_key
        out["x-kubernetes-patch-strategy"] = "merge"
        out["x-kubernetes-list-type"] = "map"
        out["x-kubernetes-list-map-keys"] = [merge_key]
    return out


def string_map(desc: str) -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": desc}


def obj(
    desc: str, props: dict[str, Schema], *, partial: bool = False, required: tuple[str, ...] = ()
) -> Schema:
    out: Schema = {"type": "object", "description": desc, "properties": props}
    if required:
        out["required"] = list(required)
    if partial:
        out[PRESERVE] = True
    return out


def free(desc: str) -> Schema:
    """An object whose content is not described (anything is accepted)."""
    return {"type": "object", "description": desc, PRESERVE: True}


def kind(rt: ResourceType, desc: str, props: dict[str, Schema]) -> Schema:
    """A top-level kind: apiVersion, kind, metadata and its own fields (fully listed)."""
    out = obj(
        desc,
        {
            "apiVersion": string(
                "APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": string(
                "Kind is a string value representing the REST resource this object represents."
            ),
            "metadata": ref(META + "ObjectMeta", "Standard object's metadata."),
            **props,
        },
    )
    out["x-kubernetes-group-version-kind"] = [
        {"group": rt.group, "version": rt.version, "kind": rt.kind}
    ]
    return out


def _meta_types() -> dict[str, Schema]:
    owner = obj(
        "OwnerReference contains enough information to let you identify an owning object.",
        {
            "apiVersion": string("API version of the referent."),
            "kind": string("Kind of the referent."),
            "name": string("Name of the referent."),
            "uid": string("UID of the referent."),
            "controller": boolean("If true, this reference points to the managing controller."),
            "blockOwnerDeletion": boolean(
                "If true, the owner cannot be deleted before this object."
            ),
        },
        required=("apiVersion", "kind", "name", "uid"),
    )
    managed = obj(
        "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource "
        "that the fieldset applies to.",
        {
            "manager": string("Manager is an identifier of the workflow managing these fields."),
            "operation": string("Operation is the type of operation: 'Apply' or 'Update'."),
            "apiVersion": string("APIVersion defines the version of this resource."),
            "time": string(
                "Time is the timestamp of when the entry was last changed.", format="date-time"
            ),
            "fieldsType": string("FieldsType is the discriminator for the fieldsV1 format."),
            "fieldsV1": free("FieldsV1 holds the first JSON version format."),
            "subresource": string(
                "Subresource is the name of the subresource used to update the object."
            ),
        },
    )
    meta = obj(
        "ObjectMeta is metadata that all persisted resources must have.",
        {
            "name": string("Name must be unique within a namespace."),
            "generateName": string(
                "An optional prefix used by the server to generate a unique name."
            ),
            "namespace": string(
                "Namespace defines the space within which each name must be unique."
            ),
            "uid": string("UID is the unique in time and space value for this object."),
            "resourceVersion": string(
                "An opaque value that represents the internal version of this object."
            ),
            "generation": integer(
                "A sequence number representing a specific generation of the desired state.",
                "int64",
            ),
            "creationTimestamp": string("The time this object was created.", format="date-time"),
            "deletionTimestamp": string(
                "The time this object will be deleted.", format="date-time"
            ),
            "deletionGracePeriodSeconds": integer(
                "Seconds allowed for graceful termination.", "int64"
            ),
            "labels": string_map(
                "Map of string keys and values used to organize and select objects."
            ),
            "annotations": string_map("Unstructured key value map stored with a resource."),
            "ownerReferences": array(
                ref(META + "OwnerReference"), "Objects this object depends on.", "uid"
            ),
            "finalizers": {
                **array(string(""), "Must be empty before the object is deleted."),
                "x-kubernetes-patch-strategy": "merge",
            },
            "managedFields": array(
                ref(META + "ManagedFieldsEntry"), "Which managers manage which fields."
            ),
            "selfLink": string("Deprecated: selfLink is a legacy read-only field."),
        },
    )
    selector = obj(
        "A label selector is a label query over a set of resources.",
        {
            "matchLabels": string_map("A map of {key,value} pairs."),
            "matchExpressions": array(
                free("A label selector requirement."), "A list of label selector requirements."
            ),
        },
    )
    return {
        META + "ObjectMeta": meta,
        META + "OwnerReference": owner,
        META + "ManagedFieldsEntry": managed,
        META + "LabelSelector": selector,
    }


def _pod_types() -> dict[str, Schema]:
    container = obj(
        "A single application container that you want to run within a pod.",
        {
            "name": string("Name of the container specified as a DNS_LABEL."),
            "image": string("Container image name."),
            "command": array(string(""), "Entrypoint array."),
            "args": array(string(""), "Arguments to the entrypoint."),
            "env": array(
                free("EnvVar represents an environment variable."), "Environment variables.", "name"
            ),
            "ports": array(
                free("ContainerPort represents a network port."),
                "Ports to expose.",
                "containerPort",
            ),
            "resources": free("Compute resources required by this container."),
            "securityContext": free(
                "SecurityContext defines the security options the container should be run with."
            ),
            "volumeMounts": array(
                free("VolumeMount describes a mounting of a volume."),
                "Volumes to mount.",
                "mountPath",
            ),
            "imagePullPolicy": string("Image pull policy: Always, Never, IfNotPresent."),
        },
        partial=True,
        required=("name",),
    )
    spec = obj(
        "PodSpec is a description of a pod.",
        {
            "containers": array(
                ref(CORE + "Container"), "List of containers belonging to the pod.", "name"
            ),
            "initContainers": array(
                ref(CORE + "Container"), "List of initialization containers.", "name"
            ),
            "nodeName": string("A request to schedule this pod onto a specific node."),
            "nodeSelector": string_map(
                "Selector which must match a node's labels for the pod to be scheduled."
            ),
            "restartPolicy": string("Restart policy for all containers: Always, OnFailure, Never."),
            "terminationGracePeriodSeconds": integer(
                "Duration the pod needs to terminate gracefully.", "int64"
            ),
            "hostNetwork": boolean("Host networking requested for this pod."),
            "serviceAccountName": string("Name of the ServiceAccount to use to run this pod."),
            "schedulerName": string("The pod is dispatched by this scheduler."),
            "dnsPolicy": string("DNS policy for the pod."),
            "tolerations": array(free("A toleration."), "The pod's tolerations."),
            "volumes": array(
                free("A volume."), "Volumes that can be mounted by containers.", "name"
            ),
        },
        partial=True,
        required=("containers",),
    )
    status = obj(
        "PodStatus represents information about the status of a pod.",
        {
            "phase": string("The phase of a Pod: Pending, Running, Succeeded, Failed, Unknown."),
            "podIP": string("IP address allocated to the pod."),
            "podIPs": array(
                free("An IP address allocated to the pod."),
                "IP addresses allocated to the pod.",
                "ip",
            ),
            "hostIP": string("IP address of the host to which the pod is assigned."),
            "conditions": array(free("A pod condition."), "Current service state of pod.", "type"),
            "containerStatuses": array(
                free("A container status."), "The status of each container."
            ),
            "startTime": string(
                "When the pod was acknowledged by the kubelet.", format="date-time"
            ),
            "reason": string(
                "A brief CamelCase message indicating details about why the pod is in this state."
            ),
            "message": string(
                "A human readable message indicating details about why the pod is in this condition."
            ),
        },
        partial=True,
    )
    template = obj(
        "PodTemplateSpec describes the data a pod should have when created from a template.",
        {"metadata": ref(META + "ObjectMeta"), "spec": ref(CORE + "PodSpec")},
    )
    return {
        CORE + "Container": container,
        CORE + "PodSpec": spec,
        CORE + "PodStatus": status,
        CORE + "PodTemplateSpec": template,
    }


def _workload(rt: ResourceType, what: str) -> Schema:
    spec = obj(
        f"{rt.kind}Spec is the specification of a {what}.",
        {
            "selector": ref(META + "LabelSelector", "A label query over pods that are managed."),
            "template": ref(
                CORE + "PodTemplateSpec", "An object that describes the pod that will be created."
            ),
            "replicas": integer("Number of desired pods."),
            "updateStrategy": free("An update strategy to replace existing pods with new pods."),
            "strategy": free(
                "The deployment strategy to use to replace existing pods with new ones."
            ),
            "minReadySeconds": integer(
                "Minimum seconds a new pod should be ready to be considered available."
            ),
            "revisionHistoryLimit": integer("The number of old history to retain."),
        },
        partial=True,
    )
    return kind(rt, f"{rt.kind} represents the configuration of a {what} (stored, not run).", {
        "spec": spec,
        "status": free(f"The current status of this {rt.kind}."),
    })  # fmt: skip


def _rbac(rt: ResourceType) -> Schema:
    rule = obj(
        "PolicyRule holds information that describes a policy rule.",
        {
            "apiGroups": array(string(""), "APIGroups of the resources."),
            "resources": array(string(""), "Resources this rule applies to."),
            "verbs": array(string(""), "Verbs that apply to all the resources in this rule."),
            "resourceNames": array(string(""), "An optional white list of names."),
            "nonResourceURLs": array(string(""), "Partial URLs a user should have access to."),
        },
        required=("verbs",),
    )
    if rt.kind.endswith("Binding"):
        return kind(rt, f"{rt.kind} references a role and grants it to subjects.", {
            "roleRef": obj("RoleRef contains information that points to the role being used.", {
                "apiGroup": string("APIGroup is the group for the resource being referenced."),
                "kind": string("Kind is the type of resource being referenced."),
                "name": string("Name is the name of resource being referenced."),
            }, required=("apiGroup", "kind", "name")),
            "subjects": array(obj("Subject contains a reference to the object or user identities.", {
                "kind": string("Kind of object being referenced."),
                "apiGroup": string("APIGroup holds the API group of the referenced subject."),
                "name": string("Name of the object being referenced."),
                "namespace": string("Namespace of the referenced object."),
            }, required=("kind", "name")), "Subjects holds references to the objects the role applies to."),
        })  # fmt: skip
    props: dict[str, Schema] = {"rules": array(rule, "Rules holds all the PolicyRules.")}
    if rt.kind == "ClusterRole":
        props["aggregationRule"] = free("AggregationRule describes how to build the rules.")
    return kind(rt, f"{rt.kind} is a logical grouping of PolicyRules.", props)


def builtin_schemas() -> dict[str, Schema]:
    """Component name -> schema, the names the real API uses."""
    s: dict[str, Schema] = {**_meta_types(), **_pod_types()}
    s[CORE + "Pod"] = kind(PODS, "Pod is a collection of containers that can run on a host.", {
        "spec": ref(CORE + "PodSpec", "Specification of the desired behavior of the pod."),
        "status": ref(CORE + "PodStatus", "Most recently observed status of the pod."),
    })  # fmt: skip
    s[CORE + "Namespace"] = kind(NAMESPACES, "Namespace provides a scope for Names.", {
        "spec": obj("NamespaceSpec describes the attributes on a Namespace.", {
            "finalizers": array(string(""), "Finalizers is an opaque list of values that must be empty to permanently remove object from storage."),
        }),
        "status": obj("NamespaceStatus is information about the current status of a Namespace.", {
            "phase": string("Phase is the current lifecycle phase of the namespace: Active, Terminating."),
            "conditions": array(free("A namespace condition."), "The latest available observations.", "type"),
        }),
    })  # fmt: skip
    s[CORE + "Node"] = kind(NODES, "Node is a worker node in Kubernetes.", {
        "spec": obj("NodeSpec describes the attributes that a node is created with.", {
            "podCIDR": string("PodCIDR represents the pod IP range assigned to the node."),
            "podCIDRs": array(string(""), "The IP ranges assigned to the node for pods."),
            "providerID": string("ID of the node assigned by the cloud provider."),
            "unschedulable": boolean("Unschedulable controls node schedulability of new pods."),
            "taints": array(free("A taint."), "If specified, the node's taints."),
        }, partial=True),
        "status": obj("NodeStatus is information about the current status of a node.", {
            "addresses": array(free("NodeAddress contains information for the node's address."), "List of addresses reachable to the node.", "type"),
            "allocatable": string_map("Allocatable represents the resources of a node that are available for scheduling."),
            "capacity": string_map("Capacity represents the total resources of a node."),
            "conditions": array(free("NodeCondition contains condition information for a node."), "Conditions is an array of current observed node conditions.", "type"),
            "nodeInfo": free("Set of ids/uuids to uniquely identify the node."),
            "daemonEndpoints": free("Endpoints of daemons running on the Node."),
        }, partial=True),
    })  # fmt: skip
    s[CORE + "Event"] = kind(EVENTS, "Event is a report of an event somewhere in the cluster.", {
        "involvedObject": free("The object that this event is about."),
        "reason": string("A short, machine understandable string that gives the reason for the transition."),
        "message": string("A human-readable description of the status of this operation."),
        "type": string("Type of this event (Normal, Warning)."),
        "count": integer("The number of times this event has occurred."),
        "firstTimestamp": string("The time at which the event was first recorded.", format="date-time"),
        "lastTimestamp": string("The time at which the most recent occurrence of this event was recorded.", format="date-time"),
        "eventTime": string("Time when this Event was first observed.", format="date-time"),
        "source": free("The component reporting this event."),
        "series": free("Data about the Event series this event represents."),
        "action": string("What action was taken/failed regarding to the Regarding object."),
        "reportingComponent": string("Name of the controller that emitted this Event."),
        "reportingInstance": string("ID of the controller instance."),
        "related": free("Optional secondary object for more complex actions."),
    })  # fmt: skip
    s[CORE + "ConfigMap"] = kind(CONFIGMAPS, "ConfigMap holds configuration data for pods to consume.", {
        "data": string_map("Data contains the configuration data."),
        "binaryData": string_map("BinaryData contains the binary data (base64)."),
        "immutable": boolean("Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated."),
    })  # fmt: skip
    s[CORE + "Secret"] = kind(SECRETS, "Secret holds secret data of a certain type.", {
        "data": string_map("Data contains the secret data, base64 encoded."),
        "stringData": string_map("stringData allows specifying non-binary secret data in string form (write-only)."),
        "type": string("Used to facilitate programmatic handling of secret data."),
        "immutable": boolean("Immutable, if set to true, ensures that data stored in the Secret cannot be updated."),
    })  # fmt: skip
    s[CORE + "ServiceAccount"] = kind(SERVICEACCOUNTS, "ServiceAccount binds together a name, a principal and a set of secrets.", {
        "secrets": array(free("An object reference."), "Secrets is a list of the secrets in the same namespace."),
        "imagePullSecrets": array(free("A local object reference."), "References to secrets for pulling images.", "name"),
        "automountServiceAccountToken": boolean("Whether pods running as this service account should have an API token automatically mounted."),
    })  # fmt: skip
    s[CORE + "Service"] = kind(SERVICES, "Service is a named abstraction of software service (stored; no proxying).", {
        "spec": obj("ServiceSpec describes the attributes that a user creates on a service.", {
            "selector": string_map("Route service traffic to pods with label keys and values matching this selector."),
            "ports": array(free("ServicePort contains information on service's port."), "The list of ports that are exposed by this service.", "port"),
            "type": string("type determines how the Service is exposed: ClusterIP, NodePort, LoadBalancer, ExternalName."),
            "clusterIP": string("clusterIP is the IP address of the service."),
            "clusterIPs": array(string(""), "ClusterIPs is a list of IP addresses assigned to this service."),
        }, partial=True),
        "status": free("Most recently observed status of the service."),
    })  # fmt: skip
    s[CORE + "Endpoints"] = kind(ENDPOINTS, "Endpoints is a collection of endpoints that implement the actual service.", {
        "subsets": array(free("An endpoint subset."), "The set of all endpoints is the union of all subsets."),
    })  # fmt: skip
    s["io.k8s.api.apps.v1.DaemonSet"] = _workload(DAEMONSETS, "daemon set")
    s["io.k8s.api.apps.v1.Deployment"] = _workload(DEPLOYMENTS, "deployment")
    s["io.k8s.api.apps.v1.ReplicaSet"] = _workload(REPLICASETS, "replica set")
    for rt in (CLUSTERROLES, CLUSTERROLEBINDINGS, ROLES, ROLEBINDINGS):
        s[f"io.k8s.api.rbac.v1.{rt.kind}"] = _rbac(rt)
    s["io.k8s.api.coordination.v1.Lease"] = kind(LEASES, "Lease defines a lease concept.", {
        "spec": obj("LeaseSpec is a specification of a Lease.", {
            "holderIdentity": string("holderIdentity contains the identity of the holder of a current lease."),
            "leaseDurationSeconds": integer("leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it."),
            "acquireTime": string("acquireTime is a time when the current lease was acquired.", format="date-time"),
            "renewTime": string("renewTime is a time when the current holder of a lease has last updated the lease.", format="date-time"),
            "leaseTransitions": integer("leaseTransitions is the number of transitions of a lease between holders."),
            "strategy": string("Strategy indicates the strategy for picking the leader for coordinated leader election."),
            "preferredHolder": string("PreferredHolder signals to a lease holder that the lease has a more optimal holder."),
        }),
    })  # fmt: skip
    for rt in (SELFSUBJECTACCESSREVIEWS, SELFSUBJECTRULESREVIEWS):
        s[f"io.k8s.api.authorization.v1.{rt.kind}"] = kind(rt, f"{rt.kind} checks whether the current user can perform an action.", {
            "spec": free("Spec holds information about the request being evaluated."),
            "status": free("Status is filled in by the server."),
        })  # fmt: skip
    s["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"] = kind(
        CRDS,
        "CustomResourceDefinition represents a resource that should be exposed on the API server.",
        {
            "spec": free("spec describes how the user wants the resources to appear."),
            "status": free("status indicates the actual state of the CustomResourceDefinition."),
        },
    )
    return s


def component_name(rt: ResourceType) -> str:
    """The definition name of a kind (``io.k8s.api.core.v1.Pod``; CRDs: reversed group)."""
    if rt.custom:
        return ".".join(reversed(rt.group.split("."))) + f".{rt.version}.{rt.kind}"
    if rt.group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rt.version}.{rt.kind}"
    short = rt.group.split(".")[0] if rt.group else "core"
    return f"io.k8s.api.{short}.{rt.version}.{rt.kind}"
