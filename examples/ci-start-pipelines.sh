#!/bin/sh
# A CI step: start the pipelines listed in a file (one id per line), then
# fail the job, showing which runs did not start and why, when any did not.
#
#   HUAWEICLOUD_SDK_AK=… HUAWEICLOUD_SDK_SK=… HUAWEICLOUD_SDK_PROJECT_ID=… \
#   CODEARTS_REGION=cn-north-4 sh examples/ci-start-pipelines.sh pipelines.txt
# readme:begin step
# (`|| status=$?`: a CI shell runs steps under `set -e`, which would end
# the step at the tool's failure, before the case says why)
status=0
codearts-batchresult run --query --failed --input "${1:-pipelines.txt}" || status=$?
case $status in
0) echo "Every pipeline started." ;;
1) echo "Some pipelines did not start: see the table above." >&2; exit 1 ;;
2) echo "Bad pipeline ids or settings: see the message above." >&2; exit 2 ;;
126|127) echo "codearts-batchresult could not be started (above): nothing was sent." >&2; exit 127 ;;
130) echo "Interrupted. Runs it lists as unanswered may have started: check them before running this step again." >&2
   exit 130 ;;
*) echo "The call failed: see the error above. Runs it lists as unanswered may have started:" >&2
   echo "check them before running this step again." >&2; exit 3 ;;
esac
# readme:end step
