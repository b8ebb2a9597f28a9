"""A tiny model that tests import: resnet18, hidden 32, 1 encoder + 2 decoder layers, few queries."""

from configs import common


def get_config():
    c = common.get_config()
    c.data.dataset = "Synthetic"
    m = c.model
    m.backbone = "resnet18"
    m.hidden_dim = 32
    m.ffn_dim = 64
    m.num_heads = 2
    m.enc_points = 2
    m.dec_points = 2
    m.enc_layers = 1
    m.dec_layers = 2
    m.num_det_queries = 8
    m.samba.state_dim = 4
    m.samba.num_layers = 2
    m.samba.num_heads = 2
    m.samba.ffn_dim = 8
    c.tracker.short_side = 64
    c.tracker.max_size = 96
    c.tracker.max_tracks = 4
    c.tracker.max_tracks_limit = 16
    return c
