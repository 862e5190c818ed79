# What every video captioning config shares: the generator (beam search, 3 beams), the packed
# sample fields (MMAction2's PackActionInputs; one sample per video in evaluation with all its
# references) and CaptionMetric (BLEU-1..4, METEOR, ROUGE-L, CIDEr). A config adds the model
# preset, the data and the schedule, and sets `model = dict(_base_.video_caption_generator)`.
video_caption_generator = dict(type='MaMMUTGenerator', prompt='', target_key='caption',
                               pred_key='pred_caption',
                               generation=dict(num_beams=3, max_new_tokens=30))
video_caption_pack = dict(type='PackActionInputs', algorithm_keys=('text_tokens', ),
                          meta_keys=('video_id', 'caption', 'gt_captions', 'prompt_length'))
val_evaluator = dict(type='CaptionMetric')
test_evaluator = val_evaluator
