# What every open-ended VideoQA config shares: the generator (the question is the teacher-forced
# prompt, the answer is generated after it), the packed sample fields (MMAction2's
# PackActionInputs; text_tokens as a data field) and VideoQAAccuracy (exact match after the VQA
# answer normalisation, overall and per question type). A config adds the model preset, the
# data and the schedule, and sets `model = dict(_base_.videoqa_generator)`.
videoqa_generator = dict(type='MaMMUTGenerator', prompt='{question}', target_key='answer',
                         pred_key='pred_answer', generation=dict(num_beams=1, max_new_tokens=8))
videoqa_pack = dict(type='PackActionInputs', algorithm_keys=('text_tokens', ),
                    meta_keys=('video_id', 'question_id', 'question', 'answer', 'gt_answers',
                               'question_type', 'prompt_length'))
val_evaluator = dict(type='VideoQAAccuracy')
test_evaluator = val_evaluator
