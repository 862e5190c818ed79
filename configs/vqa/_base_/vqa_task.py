# What every open-ended VQA config shares: the generator (the question is the teacher-forced
# prompt, the answer is generated after it; greedy, a few tokens), the packed sample fields the
# official VQA accuracy reads, and that metric. A config adds the model preset, the data and the
# schedule, and sets `model = dict(_base_.vqa_generator)`.
vqa_generator = dict(type='MaMMUTGenerator', prompt='{question}', target_key='answer',
                     pred_key='pred_answer', generation=dict(num_beams=1, max_new_tokens=8))
vqa_meta_keys = ('question_id', 'img_id', 'question', 'answer', 'gt_answers', 'answer_type',
                 'question_type', 'prompt_length')
val_evaluator = dict(type='VQAAccuracy')
test_evaluator = val_evaluator
