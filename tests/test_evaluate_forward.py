"""The evaluator over `forward` with abstract tensors: the feeds graph."""

import textwrap

from initlint.evaluate import build_class

from test_evaluate_build import HEAD


def graph(body, name="Net"):
    ev, res = build_class({"model.py": HEAD + textwrap.dedent(body)}, name)
    assert res.error is None, res.error
    return ev.forward_graph(res.module)


def feeds(g, ref):
    """What the node(s) of `ref` feed: (kind, act or ref) of each successor."""
    ids = {n.id for n in g.nodes if n.ref == ref}
    return sorted((g.nodes[b].kind, g.nodes[b].act or g.nodes[b].ref or "")
                  for a, b in g.edges if a in ids)


def test_functional_activations_in_every_spelling():
    g = graph("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
        def forward(self, x):
            x = F.relu(self.a(x))
            x = torch.tanh(self.b(x))
            return self.c(x).relu()
    """)
    assert feeds(g, "a") == [("act", "relu")]
    assert feeds(g, "b") == [("act", "tanh")]
    assert feeds(g, "c") == [("act", "relu")]


def test_modulelist_loop_with_index_condition():
    g = graph("""
    class Net(nn.Module):
        def __init__(self, n=3):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(n)])
            self.act = nn.ReLU()
        def forward(self, x):
            n = len(self.layers)
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < n - 1:
                    x = self.act(x)
            return x
    """)
    assert feeds(g, "layers.0") == [("act", "relu")]
    assert feeds(g, "layers.1") == [("act", "relu")]
    assert feeds(g, "layers.2") == [("output", "")]


def test_child_forward_inlined_so_a_custom_layer_meets_the_activation_after_it():
    g = graph("""
    class MyLinear(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.inner = nn.Linear(d, d)
            nn.init.xavier_uniform_(self.inner.weight)
        def forward(self, x):
            return self.inner(x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1 = MyLinear(4)
            self.act = nn.Tanh()
        def forward(self, x):
            return self.act(self.l1(x))
    """)
    assert feeds(g, "l1.inner") == [("act", "tanh")]


def test_residual_add_and_norm_marked():
    g = graph("""
    class Block(nn.Module):
        def __init__(self, d=4):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.fc = nn.Linear(d, d)
        def forward(self, x):
            return x + self.fc(self.norm(x))
    """, "Block")
    assert feeds(g, "norm") == [("layer", "fc")]
    assert feeds(g, "fc") == [("add", "")]
    (add, left, right), = g.residual_adds
    assert left == [0] and g.nodes[right[0]].ref == "fc"


def test_x_times_sigmoid_x_is_silu_not_a_gate():
    g = graph("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.gate = nn.Linear(4, 4)
        def forward(self, x):
            h = self.fc(x)
            h *= torch.sigmoid(h)
            return h * torch.sigmoid(self.gate(x))
    """)
    assert feeds(g, "fc") == [("act", "silu")]
    assert feeds(g, "gate") == [("act", "sigmoid")]
    assert any(n.kind == "mul" for n in g.nodes)


def test_sequential_chain_and_dropout_transparent():
    g = graph("""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.GELU())
        def forward(self, x):
            return self.body(x)
    """)
    assert feeds(g, "body.0") == [("act", "gelu")]
