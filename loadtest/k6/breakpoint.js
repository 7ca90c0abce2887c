// breakpoint: the arrival rate climbs linearly from START_RATE to RATE
// over DURATION; the run aborts at the first SLA breach (abortOnFail), so
// the rate reached when it stopped is the service's capacity.
// START_RATE, RATE, DURATION, VUS (preallocated), MAX_VUS, DELAY_ABORT.
import { baseOptions, MIXES, mixRoutes, pick, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;

export const options = baseOptions(
  {
    breakpoint: {
      executor: 'ramping-arrival-rate',
      startRate: intEnv('START_RATE', 10),
      timeUnit: '1s',
      preAllocatedVUs: intEnv('VUS', 50),
      maxVUs: intEnv('MAX_VUS', 1000),
      stages: [{ duration: strEnv('DURATION', '20m'), target: intEnv('RATE', 5000) }],
      gracefulStop: strEnv('GRACEFUL_STOP', '5s'),
    },
  },
  mixRoutes(mix),
  { abortOnFail: true, delayAbortEval: strEnv('DELAY_ABORT', '10s') },
);

export default function () {
  pick(mix);
}
