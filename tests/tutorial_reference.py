"""The tutorial's classes, verbatim (minus its data and training code).

Kept as the independent reference: our models must load checkpoints saved from these classes
and compute the same function.
"""

import torch.nn as nn


class ChannelAttention(nn.Module):
    def __init__(self, in_planes, ratio=16):
        super(ChannelAttention, self).__init__()  # noqa: UP008
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.max_pool = nn.AdaptiveMaxPool2d(1)

        self.fc1 = nn.Conv2d(in_planes, in_planes // ratio, 1, bias=False)
        self.relu1 = nn.ReLU()
        self.fc2 = nn.Conv2d(in_planes // ratio, in_planes, 1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        avg_out = self.fc2(self.relu1(self.fc1(self.avg_pool(x))))
        max_out = self.fc2(self.relu1(self.fc1(self.max_pool(x))))
        out = avg_out + max_out
        return self.sigmoid(out)


class UseAttentionModel(nn.Module):
    def __init__(self, H):
        super(UseAttentionModel, self).__init__()  # noqa: UP008
        self.channel_attention = ChannelAttention(H)

    def forward(self, x):
        attention_value = self.channel_attention(x)
        out = x.mul(attention_value)
        return out
