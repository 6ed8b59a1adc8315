import base64
import math
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


def unpack_tensor(data: str, dtype: torch.dtype, shape: tuple[int, ...]) -> Tensor:
    """The tensor whose raw bytes are ``data`` (zlib-compressed, base64-encoded).

    A tensor that no state_dict restores, written by nnconvert bit for bit.
    """
    raw = bytearray(zlib.decompress(base64.b64decode(data)))
    return torch.frombuffer(raw, dtype=dtype).reshape(shape)


def window_attention(params: dict[str, Tensor], x: Tensor) -> Tensor:
    """Window based multi-head self attention (W-MSA) with relative position bias."""
    B_, N, C = x.shape
    qkv = (
        F.linear(x, params["qkv.weight"], params["qkv.bias"])
        .reshape(B_, N, 3, 2, C // 2)
        .permute(2, 0, 3, 1, 4)
    )
    # make torchscript happy (cannot use tensor as tuple)
    q, k, v = qkv[0], qkv[1], qkv[2]
    q = q * 0.25
    attn = q @ k.transpose(-2, -1)
    # Wh*Ww,Wh*Ww,nH
    relative_position_bias = params["relative_position_bias_table"][
        unpack_tensor(
            "eNrt3FXQr2WhhnHeBynpElFSUZAQlRApBVRURBERpQQLkRBBuhUUEGkUUEBKQGxJ"
            "AykBEyQE7O7edjuz1r33zDra38E198m63pN7vu/4ff+/Z+aZufad5pn17JPdO/uG"
            "7F7Z12f3zL4u+9rsa7Kvzr4qu0d29+xLsttlX5x9UXbb7Auz22RfkH1+9nnZrbPP"
            "zT4n++zshtkNsutn18s+LfvU7FOy62afnF0nu3Z2reya2SdlH5t9THb57KOzy2Uf"
            "lV02u0x26exS2SWzS2QXzy6WnSf7n/z57+y/sv/M/iP79+zfsn/N/iX75+yfsn/M"
            "/iH74+yPsj/M/iD7/ez3st/Nfif77ey3st/MfiP79ezD2S9mv5D9fPau7J3ZO7Kf"
            "y96evS17a/aW7M3Zz2Zvyn40+5Hsh7Mfyn4we3X2A9mrsldmr8i+P3t59rLspdlz"
            "smdnz8qemT0je3r2tOyp2XdmT8m+I3ty9qTsidnDs4dlD80ekj04e1D2zdkDswdk"
            "35TdP/vG7H7ZfbOvzO6W3TW7S3bn7E7ZV2Rfnt0x+7LsDtmXZrfPviS7VXbL7BbZ"
            "Z2Wfmd08u1l20+wm2Y2zz8hulH16dsPsGtnVs0/MPiG7Wvbx2cdlV82ukl05u1J2"
            "xewK2cdmF80ukl04+8jsQtkFswtk58/Ol31Edt7smPPn5P+e/fKPfUtObF924ull"
            "J1YoOzGVnfhJ2YkvlZ34WNmJd5WdOKLsxO5lJ55dduJJZScWKzvxxqnrxEvLTmxU"
            "dmLFshOj7MRPy058uezEx8tOvLvsxJFlJ/YoO/GcshNrlp1YvOzE/lPXiR3KTjyj"
            "7MRKZSfmLTvxs7ITXyk78YmyE+eWnTiq7MSryk48t+zEWmUnlig78aap68TLyk5s"
            "XHZi5bITjyg78fOyE3eXnbim7MR5ZSeOLjvx6rITW5edWLvsxJJlJw6Yuk7sWHZi"
            "k7ITq5SdmK/sxC/KTtxTduLashPnl504puzEa8pOPK/sxDplJ5YqO3Hg1HXi5WUn"
            "Ni07sWrZifnLTvyy7MRXy05cV3biPWUnji078dqyE88vO/HkshNLl51489R14hVl"
            "JzYrO/G4shMLlJ34VdmJe8tOXF924r1lJ44rO/G6shMvKDuxbtmJZcpOHDR1ndip"
            "7MTmZSceX3ZiwbITvy47cV/ZiRvKTlxQduItZSf2LDuxTdmJp5SdWLbsxMFT14md"
            "y048s+zEamUnFio78ZuyE/eXnbix7MSFZSfeWnbi9WUnXlh24qllJx5VduKQqevE"
            "LmUnnlV24gllJx5ZduK3ZSceKDvxybITF5WdOL7sxF5lJ7YtO/G0shPLlZ04dOo6"
            "sWvZiS3KTjyx7MTCZSd+V3bia2UnPlV24n1lJ04oO/GGshMvKjuxXtmJR5edOGzq"
            "OrFb2Ykty06sXnZikbITvy878WDZiU+Xnbi47MTbyk7sXXbixWUn1i87sXzZicOn"
            "rhOvLDuxVdmJNcpOLFp24n/KTjxUduIzZScuKTvx9rIT+5Sd2K7sxAZlJx5TduLE"
            "fPdvz74te0L2+Oxbs2/JHpc9NntM9ujsUdkjs0eUO4D2YvPe2Iud9diLndn9hL3Y"
            "nD+zc3sv9qSp64S9WNYJe7GsE/ZiWSfsxbJOtHuxJ09dJ+zFsk7Yi2WdsBfLOmEv"
            "lnWi3Yt9x9R1wl4s64S9WNYJe7GsE/ZiWSfavdhTpq4T9mJZJ+zFsk7Yi2WdsBfL"
            "OtHuxb5z6jphL5Z1wl4s64S9WNYJe7GsE+1e7KlT1wl7sawT9mJZJ+zFsk7Yi2Wd"
            "aPdiT5u6TtiLZZ2wF8s6YS+WdeK4shP2YlknTp+6TtiLZZ2wF8s6YS+WdcJeLOtE"
            "uxd7xtR1wl4s64S9WNYJe7GsE/ZiWSfavdgzp64T9mJZJ+zFsk7Yi2WdsBfLOtHu"
            "xZ41dZ2wF8s6YS+WdcJeLOuEvVjWiXYv9uyp64S9WNYJe7GsE/ZiWSfsxbJOtHux"
            "50xdJ+zFsk7Yi2WdsBfLOmEvlnWi3Yu9NN/hJdmLs+/LXpS9MHtB9r3Z92TPz56X"
            "PTf77uy7yh1Ae7F5b+zFznrsxc7sfsJebM6f2bm9F3vZ1HXCXizrhL1Y1gl7sawT"
            "9mJZJ9q92MunrhP2Ylkn7MWyTtiLZZ2wF8s60e7Fvn/qOmEvlnXCXizrhL1Y1gl7"
            "sawT7V7sFVPXCXuxrBP2Ylkn7MWyTtiLZZ1o92KvnLpO2ItlnbAXyzphL5Z1wl4s"
            "60S7F3vV1HXCXizrhL1Y1gl7sawT9mJZJ9q92A9MXSfsxbJO2ItlnbAXyzphL5Z1"
            "ot2LvXrqOmEvlnXCXizrhL1Y1gl7sawT7V7sB6euE/ZiWSfsxbJO2ItlnbAXyzrR"
            "7sV+aOo6YS+WdcJeLOuEvVjWCXuxrBPtXuyHp64T9mJZJ+zFsk7Yi2WdsBfLOtHu"
            "xX5k6jphL5Z1wl4s64S9WNaJi8tO2Itlnfjo1HXCXizrhL1Y1gl7sawT9mJZJ9q9"
            "2JvyXXwm++nsp7KfzN6YvSF7ffa67LXZa7KfyH48+7FyB9BebN4be7GzHnuxM7uf"
            "sBeb82d2bu/FfnbqOmEvlnXCXizrhL1Y1gl7sawT7V7szVPXCXuxrBP2Ylkn7MWy"
            "TtiLZZ3Yo+zELVPXCXuxrBP2Ylkn7MWyTtiLZZ1o92JvnbpO2ItlnbAXyzphL5Z1"
            "wl4s60S7F3vb1HXCXizrhL1Y1gl7sawT9mJZJ9q92NunrhP2Ylkn7MWyTtiLZZ2w"
            "F8s60e7Ffm7qOmEvlnXCXizrhL1Y1gl7sawT7V7sHVPXCXuxrBP2Ylkn7MWyTtiL"
            "ZZ1o92LvnLpO2ItlnbAXyzphL5Z1wl4s60S7F3vX1HXCXizrhL1Y1gl7sawT9mJZ"
            "J9q92M9PXSfsxbJO2ItlnbAXyzphL5Z1ot2L/cLUdcJeLOuEvVjWCXuxrBP2Ylkn"
            "2r3YL05dJ+zFsk7Yi2WdsBfLOmEvlnWi3Yt9OO/pQ9kHs1/LPpC9P3tf9t7sV7P3"
            "ZO/OfiX75eyXyh1Ae7F5b+zFznrsxc7sfsJebM6f2bm9F/v1qeuEvVjWCXuxrBP2"
            "Ylkn7MWyTrR7sd+Yuk7Yi2WdsBfLOmEvlnXCXizrRLsX+82p64S9WNYJe7GsE/Zi"
            "WSfsxbJOtHux35q6TtiLZZ2wF8s6YS+WdcJeLOtEuxf77anrhL1Y1gl7sawT9mJZ"
            "J+zFsk60e7HfmbpO2ItlnbAXyzphL5Z1wl4s60S7F/vdqeuEvVjWCXuxrBP2Ylkn"
            "7MWyThxXduJ7U9cJe7GsE/ZiWSfsxbJO2ItlnWj3Yr8/dZ2wF8s6YS+WdcJeLOuE"
            "vVjWiXYv9gdT1wl7sawT9mJZJ+zFsk7Yi2WdaPdifzh1nbAXyzphL5Z1wl4s64S9"
            "WNaJdi/2R1PXCXuxrBP2Ylkn7MWyTtiLZZ1o92J/PHWdsBfLOmEvlnXCXizrhL1Y"
            "1ol2L/YP//veZH+f/V32t9nfZH+d/VX2l9lfZH+e/Vn2p9mflDuA9mLz3tiLnfXY"
            "i53Z/YS92Jw/s7dk59Ze7B+nrhP2Ylkn7MWyTtiLZZ2wF8s60e7F/mnqOmEvlnXC"
            "XizrhL1Y1gl7sawT7V7sn6euE/ZiWSfsxbJO2ItlnbAXyzrR7sX+Zeo6YS+WdcJe"
            "LOuEvVjWCXuxrBPtXuxfp64T9mJZJ+zFsk7Yi2WdsBfLOtHuxf5t6jphL5Z1wl4s"
            "64S9WNYJe7GsE+1e7N+nrhP2Ylkn7MWyTtiLZZ2wF8s60e7F/mPqOmEvlnXCXizr"
            "hL1Y1gl7sawT7V7sP6euE/ZiWSfsxbJO2ItlnbAXyzrR7sX+a+o6YS+WdcJeLOuE"
            "vVjWCXuxrBPtXuy/p64T9mJZJ+zFsk7Yi2WdsBfLOtHuxf5n6jphL5Z1wl4s64S9"
            "WNYJe7GsExeXnZhndJ2wF8s6YS+WdcJeLOuEvVjWiXYvdrH4sGh2kezC2UdmF8ou"
            "mF0gO392vuwjsvNmR3YaM7ufsBeb98Ze7IzuJ+zFzl57sTO7n7AXm/Nn9v/rxS4+"
            "uk7Yi2WdsBfLOmEvlnXCXizrRLsXu8ToOmEvlnXCXizrhL1Y1gl7sawT7V7skqPr"
            "hL1Y1gl7sawT9mJZJ+zFsk60e7FLja4T9mJZJ+zFsk7Yi2WdsBfLOtHuxS49uk7Y"
            "i2WdsBfLOmEvlnXCXizrRLsXu8zoOmEvlnXCXizrhL1Y1gl7sawT7V7ssqPrhL1Y"
            "1gl7sawT9mJZJ+zFsk60e7GPGl0n7MWyTtiLZZ2wF8s6YS+WdaLdi11udJ2wF8s6"
            "YS+WdcJeLOuEvVjWiXYv9tGj64S9WNYJe7GsE/ZiWSfsxbJOtHuxy4+uE/ZiWSfs"
            "xbJO2ItlnbAXyzrR7sU+ZnSdsBfLOmEvlnXCXizrhL1Y1ol2L/axo+uEvVjWCXux"
            "rBP2Ylkn7MWyTrR7sU/K7/Ua2dWzT8w+Ibta9vHZx2VXza6SXTm7UnbF7ArlDqC9"
            "2Lw39mJnPfZiZ3Y/YS8258/s3N6LXXN0nbAXyzphL5Z1wl4s64S9WNaJdi92rdF1"
            "wl4s64S9WNYJe7GsE/ZiWSfavdi1R9cJe7GsE/ZiWSfsxbJO2ItlnWj3YtcZXSfs"
            "xbJO2ItlnbAXyzphL5Z1ot2LffLoOmEvlnXCXizrhL1Y1gl7sawT7V7suqPrhL1Y"
            "1gl7sawT9mJZJ+zFsk60e7FPGV0n7MWyTtiLZZ2wF8s6YS+WdaLdi33q6DphL5Z1"
            "wl4s64S9WNYJe7GsE+1e7NNG1wl7sawT9mJZJ+zFsk7Yi2WdaPdi1xtdJ+zFsk7Y"
            "i2WdsBfLOmEvlnWi3Ytdf3SdsBfLOmEvlnXCXizrhL1Y1ol2L3aD0XXCXizrhL1Y"
            "1gl7sawT9mJZJ9q92A1H1wl7sawT9mJZJ+zFsk7Yi2WdaPdin53fz62yW2a3yD4r"
            "+8zs5tnNsptmN8lunH1GdqPs08sdQHuxc95j24udvfZiZ3aPbS8258+5vBf7nNF1"
            "wl4s64S9WNYJe7GsE/ZiWSfavdjnjq4T9mJZJ+zFsk7Yi2WdsBfLOtHuxW49uk7Y"
            "i2WdsBfLOmEvlnXCXizrRLsX+7zRdcJeLOuEvVjWCXuxrBP2Ylkn2r3Y54+uE/Zi"
            "WSfsxbJO2ItlnbAXyzrR7sW+YHSdsBfLOmEvlnXCXizrhL1Y1ol2L3ab0XXCXizr"
            "hL1Y1gl7sawT9mJZJ9q92BeOrhP2Ylkn7MWyTtiLZZ2wF8s60e7Fbju6TtiLZZ2w"
            "F8s6YS+WdcJeLOtEuxf7otF1wl4s64S9WNYJe7GsE/ZiWSfavdgXj64T9mJZJ+zF"
            "sk7Yi2WdsBfLOtHuxW43uk7Yi2WdsBfLOmEvlnXCXizrRLsX+5LRdcJeLOuEvVjW"
            "CXuxrBP2Ylkn2r3Y3fN79srsbtlds7tkd87ulH1F9uXZHbMvy+6QfWl2+3IH0F7s"
            "nPfY9mJnr73Ymd1j24vN+XMu78XuMbpO2ItlnbAXyzphL5Z1wl4s60S7F/uq0XXC"
            "XizrhL1Y1gl7sawT9mJZJ9q92FePrhP2Ylkn7MWyTtiLZZ2wF8s60e7FvmZ0nbAX"
            "yzphL5Z1wl4s64S9WNaJdi/2taPrhL1Y1gl7sawT9mJZJ+zFsk60e7GvG10n7MWy"
            "TtiLZZ2wF8s6YS+WdaLdi91zdJ2wF8s6YS+WdcJeLOuEvVjWiXYv9vWj64S9WNYJ"
            "e7GsE/ZiWSfsxbJOtHuxe42uE/ZiWSfsxbJO2ItlnbAXyzrR7sW+YXSdsBfLOmEv"
            "lnXCXizrhL1Y1ol2L3bv0XXCXizrhL1Y1gl7sawT9mJZJ9q92H1G1wl7sawT9mJZ"
            "J+zFsk7Yi2WdaPdi9x1dJ+zFsk7Yi2WdsBfLOmEvlnWi3Ys9Ir8vh2cPyx6aPSR7"
            "cPag7JuzB2YPyL4pu3/2jdn9yh1Ae7Fz3mPbi5299mJndo9tLzbnz7m8F3vk6Dph"
            "L5Z1wl4s64S9WNYJe7GsE+1e7FGj64S9WNYJe7GsE/ZiWSfsxbJOtHuxR4+uE/Zi"
            "WSfsxbJO2ItlnbAXyzrR7sUeM7pO2ItlnbAXyzphL5Z1wl4s60S7F3vs6DphL5Z1"
            "wl4s64S9WNYJe7GsE+1e7HGj64S9WNYJe7GsE/ZiWSfsxbJOtHuxbxldJ+zFsk7Y"
            "i2WdsBfLOmEvlnWi3Yt96+g6YS+WdcJeLOuEvVjWCXuxrBPtXuzxo+uEvVjWCXux"
            "rBP2Ylkn7MWyTrR7sSeMrhP2Ylkn7MWyTtiLZZ2wF8s60e7Fvm10nbAXyzphL5Z1"
            "wl4s64S9WNaJdi/27aPrhL1Y1gl7sawT9mJZJ+zFsk60e7Enjq4T9mJZJ+zFsk7Y"
            "i2WdsBfLOtHuxb4r3/s52bOzZ2XPzJ6RPT17WvbU7Duzp2TfkT05e1K5A2gvds57"
            "bHuxs9de7Mzuse3F5vw5l/di3z26TtiLZZ2wF8s6YS+WdcJeLOtEuxd77ug6YS+W"
            "dcJeLOuEvVjWCXuxrBPtXux5o+uEvVjWCXuxrBP2Ylkn7MWyTrR7seePrhP2Ylkn"
            "7MWyTtiLZZ2wF8s60e7Fvmd0nbAXyzphL5Z1wl4s64S9WNaJdi/2vaPrhL1Y1gl7"
            "sawT9mJZJ+zFsk60e7EXjK4T9mJZJ+zFsk7Yi2WdsBfLOtHuxV44uk7Yi2WdsBfL"
            "OmEvlnXCXizrRLsXe9HoOmEvlnXCXizrhL1Y1gl7sawT7V7s+0bXCXuxrBP2Ylkn"
            "7MWyTtiLZZ1o92IvHl0n7MWyTtiLZZ2wF8s6YS+WdaLdi71kdJ2wF8s6YS+WdcJe"
            "LOuEvVjWiXYv9tLRdcJeLOuEvVjWCXuxrBP2Ylkn2r3Yj+X7+2j2I9kPZz+U/WD2"
            "6uwHsldlr8xekX1/9vLsZeUOoL3YOe+x7cXOXnuxM7vHtheb8+dc3ov9+Og6YS+W"
            "dcJeLOuEvVjWCXuxrBPtXuwnRtcJe7GsE/ZiWSfsxbJO2ItlnWj3Yq8ZXSfsxbJO"
            "2ItlnbAXyzphL5Z1ot2LvXZ0nbAXyzphL5Z1wl4s64S9WNaJdi/2utF1wl4s64S9"
            "WNYJe7GsE/ZiWSfavdjrR9cJe7GsE/ZiWSfsxbJO2ItlnWj3Ym8YXSfsxbJO2Itl"
            "nbAXyzphL5Z1ot2LvXF0nbAXyzphL5Z1wl4s64S9WNaJdi/2k6PrhL1Y1gl7sawT"
            "9mJZJ+zFsk60e7GfGl0n7MWyTtiLZZ2wF8s6YS+WdaLdi/306DphL5Z1wl4s64S9"
            "WNYJe7GsE+1e7GdG1wl7sawT9mJZJ+zFsk7Yi2WdaPdibxpdJ+zFsk7Yi2WdsBfL"
            "OmEvlnWi3Yv9Ur6HL2a/kP189q7sndk7sp/L3p69LXtr9pbszdnPljuA9mLnvMe2"
            "Fzt77cXO7B7bXmzOn3N5L/bLo+uEvVjWCXuxrBP2Ylkn7MWyTrR7sV8ZXSfsxbJO"
            "2ItlnbAXyzphL5Z1ot2LvXt0nbAXyzphL5Z1wl4s64S9WNaJdi/2ntF1wl4s64S9"
            "WNYJe7GsE/ZiWSfavdivjq4T9mJZJ+zFsk7Yi2WdsBfLOtHuxd47uk7Yi2WdsBfL"
            "OmEvlnXCXizrRLsXe9/oOmEvlnXCXizrhL1Y1gl7sawT7V7s/aPrhL1Y1gl7sawT"
            "9mJZJ+zFsk60e7EPjK4T9mJZJ+zFsk7Yi2WdsBfLOtHuxX5tdJ2wF8s6YS+WdcJe"
            "LOuEvVjWiXYv9sHRdcJeLOuEvVjWCXuxrBP2Ylkn2r3Yh0bXCXuxrBP2Ylkn7MWy"
            "TtiLZZ1o92IfHl0n7MWyTtiLZZ2wF8s6YS+WdaLdi/0vPWFHvg==",
            torch.int64,
            (196, 196),
        ).view(-1)
    ].view(196, 196, -1)
    # nH, Wh*Ww, Wh*Ww
    relative_position_bias = relative_position_bias.permute(2, 0, 1).contiguous()
    attn = attn + relative_position_bias.unsqueeze(0)
    attn = F.softmax(attn, dim=-1)
    x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
    x = F.linear(x, params["proj.weight"], params["proj.bias"])
    return x


def init_params() -> dict[str, Tensor]:
    """Fresh weights for `window_attention`, with the original `state_dict()` keys.

    Same shapes and dtypes; each layer is initialised as `torch.nn` initialises it by
    default, so after the same `torch.manual_seed`, the tensors of its `nn` layers equal
    those of a newly built `WindowAttention`, bit for bit (nnconvert compared them).

    Warning: the model's own code creates the 1 tensor marked below; nnconvert cannot
    reproduce it and leaves it uninitialised (`torch.empty`): set it before use.
    """
    params: dict[str, Tensor] = {}
    # Wh, Ww
    # define a parameter table of relative position bias
    # 2*Wh-1 * 2*Ww-1, nH
    # WindowAttention's own tensor: set it before use
    params["relative_position_bias_table"] = torch.empty(729, 2)
    # get pair-wise relative position index for each token inside the window
    # 2, Wh, Ww
    # 2, Wh*Ww
    # 2, Wh*Ww, Wh*Ww
    # Wh*Ww, Wh*Ww, 2
    # shift to start from 0
    # Wh*Ww, Wh*Ww
    params["qkv.weight"] = nn.init.kaiming_uniform_(torch.empty(96, 32), a=math.sqrt(5))
    params["qkv.bias"] = nn.init.uniform_(
        torch.empty(96), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    params["proj.weight"] = nn.init.kaiming_uniform_(
        torch.empty(32, 32), a=math.sqrt(5)
    )
    params["proj.bias"] = nn.init.uniform_(
        torch.empty(32), -1 / math.sqrt(32), 1 / math.sqrt(32)
    )
    return params
