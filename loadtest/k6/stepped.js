// stepped: closed-model steps of STEPS VUs (default 10,50,100,200), each
// held STEP_DURATION, one scenario per step starting when the previous one
// ends. Every metric of a step carries the tags step (1, 2, ...) and
// target_vus, so the report gives one SLA table per step and names the
// first step that breaks the SLA. STEPS, STEP_DURATION, SLEEP.
import { baseOptions, MIXES, mixRoutes, pick, think, listEnv, strEnv, durationSeconds } from './lib/config.js';

const mix = MIXES.browse;
const levels = listEnv('STEPS', [10, 50, 100, 200]);
const stepDuration = strEnv('STEP_DURATION', '2m');
const stepSeconds = durationSeconds(stepDuration);

const scenarios = {};
levels.forEach((vus, i) => {
  const n = i + 1;
  scenarios[`step_${String(n).padStart(2, '0')}`] = {
    executor: 'constant-vus',
    vus,
    duration: stepDuration,
    startTime: `${i * stepSeconds}s`,
    gracefulStop: '0s',
    tags: { step: String(n), target_vus: String(vus) },
  };
});

export const options = baseOptions(scenarios, mixRoutes(mix));

export default function () {
  pick(mix);
  think(0.1);
}
