# What every image captioning config shares: the generator (the caption is generated after an
# optional teacher-forced prefix; beam search, 3 beams), the packed fields CaptionMetric reads
# (one sample per image in evaluation, all its references in gt_captions), and that metric
# (BLEU-1..4, METEOR, ROUGE-L, CIDEr; SPICE when its models are installed). A config adds the
# model preset, the data and the schedule, and sets `model = dict(_base_.caption_generator)`.
caption_generator = dict(type='MaMMUTGenerator', prompt='', target_key='caption',
                         pred_key='pred_caption',
                         generation=dict(num_beams=3, max_new_tokens=30, length_penalty=1.0))
caption_meta_keys = ('img_id', 'caption', 'gt_captions', 'prompt_length')
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
