"""The preset dictionary META is deflated with from format 8.0 on (docs/FORMAT.md, "META").

META is a few hundred bytes of JSON whose keys, and most of whose values (the preset's fields),
every file repeats: deflated alone it took ~480 bytes of a grid-tiny file, which on a short clip
is several percent of the file. DEFLATE with a preset dictionary (RFC 1950's FDICT, here as raw
RFC 1951 data) lets META refer back into text both ends already have: a typical META then takes
~80 bytes. The dictionary is a typical META of each family (SIEDD `tiny`, then `grid-tiny`) as
siedd 0.8.0 writes it, with made-up video fields. It is part of the format: these bytes never
change within a major version (tests/test_container.py pins their hash); a new dictionary is a
new major version.
"""

META_DICTIONARY = (
    '{"encoder":{"device":"cpu","final_lambda":0.0,"precision":"fp32","preset":{"anchor_steps'
    '":600,"anchors":6,"bias_bits":10,"compile":"auto","deadzone":0.0,"encoder_bits":8,"grad_'
    'clip":2.0,"group_size":20,"groups_per_batch":0,"hard_fraction":0.1,"head_bits":8,"head_d'
    'eltas":"off","hidden":96,"key_interval":2,"lr":0.001,"min_samples":4096,"name":"tiny","p'
    'recision":"auto","predicted_lr":1.0,"qat":"on","rate_lambda":0.664,"sample_fraction":0.0'
    '009765625,"shared_bits":6,"soft_quant":"noise","step_search":"on","steps":2000,"warmup_s'
    'teps":100},"quality":{"frames":100,"psnr":30.0,"psnr_mean_frames":30.0,"ssim":0.9},"seed'
    '":0,"software":"siedd 0.8.0","start_frame":0,"target_bytes":0},"model":{"decoder_layers"'
    ':3,"encoder_layers":2,"family":"siedd","group_size":20,"hidden":96,"omega":30.0,"pe_octa'
    'ves":4,"preset":"tiny"},"quant":{"head_deltas":"off","key_interval":2,"rate_lambda":0.66'
    '4,"steps":"per tensor"},"video":{"color":{"matrix":"itu601","range":"MPEG","source_pixel'
    '_format":"yuv420p","source_size":[1920,1080]},"fps":[25,1],"frame_count":100,"height":36'
    '0,"source":".mp4","width":640}}{"encoder":{"device":"cpu","final_lambda":0.0,"precision"'
    ':"fp32","preset":{"family":"grid","group_size":40,"hard_fraction":0.1,"levels":"1:1,2:1,'
    '4:1,8:1,16:1,32:1,64:1,4:0,8:0,16:0,32:0,64:0","lr":0.2,"motion":1,"name":"grid-tiny","r'
    'ate_lambda":0.02,"samples":16384,"scale_init":0.14,"scene_cuts":1,"steps":2400,"synthesi'
    's":"32,16","synthesis_bits":7,"synthesis_lr":0.01},"quality":{"frames":100,"psnr":30.0,"'
    'psnr_mean_frames":30.0,"ssim":0.9},"seed":0,"software":"siedd 0.8.0","start_frame":0,"ta'
    'rget_bytes":0},"model":{"family":"grid","group_size":40,"levels":[[1,1],[2,1],[4,1],[8,1'
    '],[16,1],[32,1],[64,1],[4,0],[8,0],[16,0],[32,0],[64,0]],"motion":1,"preset":"grid-tiny"'
    ',"synthesis":[32,16]},"quant":{"rate_lambda":0.02,"synthesis_bits":7},"video":{"color":{'
    '"matrix":"itu601","range":"MPEG","source_pixel_format":"yuv420p","source_size":[1920,108'
    '0]},"fps":[25,1],"frame_count":100,"height":360,"source":".mp4","width":640}}'
).encode("ascii")
