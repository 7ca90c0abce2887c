// stress: beyond the expected load in stages (1x, 2x, 3x, 4x VUS), then
// recovery. VUS (the 1x level), RAMP, DURATION (each hold), SLEEP.
import { baseOptions, MIXES, mixRoutes, pick, think, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;
const vus = intEnv('VUS', 50);
const ramp = strEnv('RAMP', '1m');
const hold = strEnv('DURATION', '3m');

const stages = [];
for (const f of [1, 2, 3, 4]) {
  stages.push({ duration: ramp, target: vus * f });
  stages.push({ duration: hold, target: vus * f });
}
stages.push({ duration: ramp, target: 0 });

export const options = baseOptions(
  {
    stress: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages,
      gracefulRampDown: strEnv('GRACEFUL_STOP', '10s'),
      gracefulStop: strEnv('GRACEFUL_STOP', '10s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
  think(0.1);
}
