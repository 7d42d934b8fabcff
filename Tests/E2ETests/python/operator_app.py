"""A small operator written with kopf (a Python operator framework from PyPI), run by e2e.py's
`operator` mode: every Greeting gets a ConfigMap with its message, owned by the Greeting."""
import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_):
    settings.posting.enabled = False
    settings.watching.server_timeout = 30


def configmap(name, namespace, message, owner):
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-greeting"}, "data": {"message": message}}
    kopf.adopt(body, owner=owner)
    return body


@kopf.on.create("kopf.example.com", "v1", "greetings")
def create_greeting(spec, name, namespace, body, **_):
    kubernetes.config.load_kube_config()
    message = f"hello, {spec.get('name', 'nobody')}"
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, configmap(name, namespace, message, body))
    return {"message": message}


@kopf.on.update("kopf.example.com", "v1", "greetings")
def update_greeting(spec, name, namespace, **_):
    kubernetes.config.load_kube_config()
    message = f"hello, {spec.get('name', 'nobody')}"
    kubernetes.client.CoreV1Api().patch_namespaced_config_map(f"{name}-greeting", namespace, {"data": {"message": message}})
    return {"message": message}
